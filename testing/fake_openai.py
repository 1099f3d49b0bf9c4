"""A fake OpenAI-compatible server, and the bits of Ollama's API Engram uses, for tests and benches.

A real HTTP/1.1 server on 127.0.0.1 (a free port), written on asyncio streams and run on its own
event loop in a background thread, so sync tests, async tests and a benchmark driving hundreds
of concurrent streams can all talk to it. Nothing in it reaches the network.

It speaks:

- ``POST /v1/chat/completions``: a JSON answer, or with ``"stream": true`` the SSE chunks as
  OpenAI sends them (a role chunk, content deltas, a chunk with ``finish_reason``, a usage chunk
  with empty ``choices`` when ``stream_options.include_usage``, then ``data: [DONE]``);
- ``POST /v1/embeddings``: deterministic hashed bag-of-words vectors (texts sharing words are
  close), as floats or base64 like OpenAI;
- ``GET /v1/models`` (401 for a key in ``rejected_keys``, as a provider refuses a wrong key);
- ``POST /api/pull`` (NDJSON progress lines, as Ollama streams them), ``GET /api/tags`` and
  ``GET /api/ps`` (the models of ``running_models``, as Ollama lists those in memory).

Tests script what comes next with ``script(Reply(...))``: a text or tokens with delays, an HTTP
error with an OpenAI-style body (429, 500, 401, a context-length 400), a disconnect after N
tokens, or an error event mid-stream. With nothing scripted the answer echoes the last user
message; a request for a JSON object whose instructions show it as one list (memory
extraction's ``{"facts": [...]}``) gets that object with the list empty. Every request is
recorded (headers lower-cased, body, JSON) with whether the client went away before the answer
was complete.

One module, past the usual size on purpose: it is one server whose parts (HTTP framing, the
scripted replies, each endpoint's wire format) only make sense together, and tests and benches
import it as a whole.
"""

import asyncio
import base64
import contextlib
import hashlib
import itertools
import json
import math
import re
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

_ERROR_DEFAULTS: dict[int, dict[str, Any]] = {
    400: {"message": "Invalid request.", "type": "invalid_request_error", "code": None},
    401: {
        "message": "Incorrect API key provided: sk-test-****. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        "type": "invalid_request_error",
        "code": "invalid_api_key",
    },
    403: {"message": "Forbidden.", "type": "invalid_request_error", "code": None},
    404: {"message": "The model does not exist.", "type": "invalid_request_error", "code": None},
    429: {
        "message": "Rate limit reached for requests. Please try again in 1ms.",
        "type": "requests",
        "code": "rate_limit_exceeded",
    },
    500: {
        "message": "The server had an error while processing your request. Sorry about that!",
        "type": "server_error",
        "code": None,
    },
    503: {
        "message": "The engine is currently overloaded, please try again later.",
        "type": "server_error",
        "code": None,
    },
}


@dataclass
class Reply:
    """One scripted answer, taken by the next matching request.

    - ``text`` (split into word tokens when streamed) or ``tokens``;
    - ``delay`` seconds between streamed tokens, ``first_token_delay`` before the first one
      (non-streamed answers wait for all of it; an embeddings answer waits that long);
    - ``status`` other than 200: answer with that status and an OpenAI-style ``error`` body
      (defaults per status) and ``headers`` (e.g. ``{"retry-after": "0"}``);
    - ``disconnect_after=N``: drop the connection after N tokens (0: before any);
    - ``fail_after=N``: after N tokens send an error event (``{"error": {...}}``) and end the
      stream, as a provider failing mid-answer does;
    - ``model`` / ``endpoint`` ("chat" or "embeddings"): only requests for these take it;
    - ``tool_calls``: ``[{"name", "arguments" (a dict, or raw text to send as it is), "id"?}]``
      the model calls (after ``text``, if any), ``finish_reason`` then ``tool_calls``; streamed
      as OpenAI does, the name first and the arguments in two pieces;
    - ``echo_system``: answer with the request's system prompt, as a model that leaks it does.
    """

    text: str | None = None
    tokens: list[str] | None = None
    delay: float = 0.0
    first_token_delay: float = 0.0
    status: int = 200
    error: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    disconnect_after: int | None = None
    fail_after: int | None = None
    finish_reason: str = "stop"
    usage: dict[str, int] | None = None
    report_usage: bool = True  # False: no usage in the answer, as some servers do
    model: str | None = None
    endpoint: str = "chat"
    tool_calls: list[dict[str, Any]] | None = None
    echo_system: bool = False

    @classmethod
    def tool_call(cls, name: str, arguments: dict[str, Any] | str, **fields: Any) -> "Reply":
        """The model calls one tool: ``Reply.tool_call("list_tasks", {"status": "todo"})``."""
        return cls(tool_calls=[{"name": name, "arguments": arguments}], **fields)

    @classmethod
    def routing(cls, agent: str, confidence: float = 0.9, **fields: Any) -> "Reply":
        """A router's JSON answer naming ``agent``."""
        return cls(text=json.dumps({"agent": agent, "confidence": confidence}), **fields)

    def tool_call_parts(self) -> list[dict[str, Any]]:
        """The scripted calls in the OpenAI shape (ids ``call_<n>``, arguments as JSON text)."""
        parts = []
        for index, call in enumerate(self.tool_calls or ()):
            arguments = call.get("arguments", {})
            parts.append(
                {
                    "id": call.get("id") or f"call_{index}",
                    "type": "function",
                    "function": {
                        "name": call["name"],
                        "arguments": arguments
                        if isinstance(arguments, str)
                        else json.dumps(arguments),
                    },
                }
            )
        return parts

    @property
    def final_reason(self) -> str:
        return (
            "tool_calls" if self.tool_calls and self.finish_reason == "stop" else self.finish_reason
        )

    @classmethod
    def rate_limited(cls, retry_after: float | None = 0, **fields: Any) -> "Reply":
        headers = {} if retry_after is None else {"retry-after": str(retry_after)}
        return cls(status=429, headers=headers, **fields)

    @classmethod
    def server_error(cls, status: int = 500, **fields: Any) -> "Reply":
        return cls(status=status, **fields)

    @classmethod
    def auth_failed(cls, **fields: Any) -> "Reply":
        return cls(status=401, **fields)

    @classmethod
    def context_too_long(cls, limit: int = 128000, used: int = 130000, **fields: Any) -> "Reply":
        error = {
            "message": f"This model's maximum context length is {limit} tokens. However, your "
            f"messages resulted in {used} tokens. Please reduce the length of the messages.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
        return cls(status=400, error=error, **fields)

    def token_list(self) -> list[str]:
        if self.tokens is not None:
            return list(self.tokens)
        return split_tokens(self.text or "")

    def error_body(self) -> dict[str, Any]:
        error = {"param": None, **_ERROR_DEFAULTS.get(self.status, _ERROR_DEFAULTS[500])}
        error.update(self.error or {})
        return {"error": error}


@dataclass
class PullScript:
    """How the next ``POST /api/pull`` behaves: ``layers`` x ``steps`` progress lines, ``delay``
    seconds apart; ``status`` other than 200 answers ``{"error": ...}`` at once;
    ``error_after=N`` streams N progress lines and then an ``{"error": ...}`` line."""

    layers: int = 2
    steps: int = 4
    delay: float = 0.0
    layer_size: int = 4_000_000
    status: int = 200
    error: str = "pull model manifest: file does not exist"
    error_after: int | None = None
    model: str | None = None


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    json: Any = None
    # Set while answering: tokens sent, whether the whole answer went out, and whether the
    # client closed the connection before it did.
    tokens_sent: int = 0
    completed: bool = False
    disconnected: bool = False

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")


def split_tokens(text: str) -> list[str]:
    """Word tokens that join back to ``text``: ``"Hello big world"`` → Hello, ␣big, ␣world."""
    return re.findall(r"\s*\S+\s*$|\s*\S+", text) if text.strip() else ([text] if text else [])


def fake_embedding(text: str, dimensions: int) -> list[float]:
    """A unit vector from hashed words: the same text gives the same vector, and texts sharing
    words have a positive cosine similarity."""
    vector = [0.0] * dimensions
    for word in re.findall(r"\w+", text.lower()):
        digest = hashlib.sha256(word.encode()).digest()
        index = int.from_bytes(digest[:4], "little") % dimensions
        vector[index] += 1.0 if digest[4] % 2 else -1.0
    norm = math.sqrt(sum(v * v for v in vector))
    if norm == 0:
        vector[0], norm = 1.0, 1.0
    return [v / norm for v in vector]


class FakeOpenAI:
    """The server. ``start()`` it (or use it as a context manager), point clients at
    ``base_url`` (``http://127.0.0.1:PORT/v1``; Ollama's API is under ``root_url``)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port  # 0: a free one, known after start()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._ids = itertools.count(1)
        self.open_connections = 0
        self.max_open_connections = 0
        self.reset()

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> "FakeOpenAI":
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        async def serve() -> None:
            self._server = await asyncio.start_server(
                self._connection, self.host, self.port, backlog=2048, limit=2**20
            )
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(serve())
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="fake-openai", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("The fake OpenAI server did not start.")
        return self

    def stop(self) -> None:
        if self._loop is None:
            return

        async def shutdown() -> None:
            assert self._server is not None
            self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        assert self._thread is not None
        self._thread.join(10)
        self._loop.close()
        self._loop = None

    def __enter__(self) -> "FakeOpenAI":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    # --- scripting ---------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget scripts, recorded requests and pulled models; back to the defaults."""
        with self._lock:
            self._replies: list[Reply] = []
            self._pulls: list[PullScript] = []
            self._requests: list[RecordedRequest] = []
            self.default_reply: Reply | None = None  # None: echo the last user message
            self.models = ["gpt-4o-mini", "fake-model"]
            self.rejected_keys: set[str] = set()
            self.local_models: set[str] = set()
            # name -> {"size", "size_vram", "expires_at"}: what /api/ps says is in memory.
            self.running_models: dict[str, dict[str, Any]] = {}
            self.embedding_dimensions = 1536

    def script(self, *replies: Reply, **fields: Any) -> None:
        """Queue answers, in order: ``script(Reply(text="Hi"), Reply.rate_limited())`` or
        ``script(text="Hi", delay=0.01)`` for one."""
        queued = list(replies) + ([Reply(**fields)] if fields else [])
        with self._lock:
            self._replies.extend(queued)

    def script_pull(self, *pulls: PullScript, **fields: Any) -> None:
        queued = list(pulls) + ([PullScript(**fields)] if fields else [])
        with self._lock:
            self._pulls.extend(queued)

    @property
    def pending_replies(self) -> int:
        with self._lock:
            return len(self._replies)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    @property
    def last_request(self) -> RecordedRequest:
        requests = self.requests
        if not requests:
            raise AssertionError("The fake OpenAI server has received no request.")
        return requests[-1]

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Poll ``predicate`` (e.g. ``lambda: fake.last_request.disconnected``) until true."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.005)
        return predicate()

    async def async_wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            await asyncio.sleep(0.005)
        return predicate()

    def _take_reply(self, endpoint: str, model: str | None) -> Reply | None:
        with self._lock:
            for index, reply in enumerate(self._replies):
                if reply.endpoint == endpoint and reply.model in (None, model):
                    return self._replies.pop(index)
        return None

    def _take_pull(self, model: str) -> PullScript:
        with self._lock:
            for index, pull in enumerate(self._pulls):
                if pull.model in (None, model):
                    return self._pulls.pop(index)
        return PullScript()

    # --- HTTP/1.1 ----------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open_connections += 1
        self.max_open_connections = max(self.max_open_connections, self.open_connections)
        try:
            while True:
                request = await self._read_request(reader)
                if request is None:
                    break
                with self._lock:
                    self._requests.append(request)
                keep_alive = await self._dispatch(request, reader, writer)
                if not keep_alive or request.headers.get("connection", "").lower() == "close":
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        except asyncio.CancelledError:
            # Only stop() cancels a connection; ending quietly keeps asyncio's start_server
            # callback from logging the cancellation as an error.
            pass
        finally:
            self.open_connections -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _read_request(self, reader: asyncio.StreamReader) -> RecordedRequest | None:
        line = await reader.readline()
        if not line.strip():
            return None
        method, target, _version = line.decode("latin-1").split()
        headers: dict[str, str] = {}
        while True:
            header = await reader.readline()
            if header in (b"\r\n", b"\n", b""):
                break
            name, _, value = header.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = await _read_chunked(reader)
        else:
            body = b""
        path, _, query = target.partition("?")
        parsed = None
        if body:
            with contextlib.suppress(ValueError):
                parsed = json.loads(body)
        return RecordedRequest(method, path, query, headers, body, parsed)

    async def _dispatch(
        self, request: RecordedRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        route = (request.method, request.path.rstrip("/"))
        if request.body and request.json is None:
            return await _send_json(writer, 400, _error("We could not parse the JSON body."))
        handlers = {
            ("POST", "/v1/chat/completions"): self._chat,
            ("POST", "/v1/embeddings"): self._embeddings,
            ("GET", "/v1/models"): self._models,
            ("POST", "/api/pull"): self._pull,
            ("GET", "/api/tags"): self._tags,
            ("GET", "/api/ps"): self._ps,
        }
        handler = handlers.get(route)
        if handler is None:
            if route == ("GET", ""):
                return await _send(writer, 200, b"Ollama is running", "text/plain")
            message = f"Unknown request URL: {request.method} {request.path}."
            return await _send_json(writer, 404, _error(message))
        return await handler(request, reader, writer)

    # --- OpenAI ------------------------------------------------------------------------------

    async def _chat(
        self, request: RecordedRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        body = request.json if isinstance(request.json, dict) else {}
        model = str(body.get("model", ""))
        reply = self._take_reply("chat", model) or self.default_reply or _unscripted(body)
        if reply.echo_system:
            reply = _echo(body, role="system")
        if reply.status != 200:
            await asyncio.sleep(reply.first_token_delay)
            return await _send_json(writer, reply.status, reply.error_body(), reply.headers)
        if body.get("stream"):
            return await self._stream_chat(request, body, reply, reader, writer)
        tokens = reply.token_list()
        if reply.disconnect_after is not None:
            request.disconnected = True
            writer.transport.abort()
            return False
        if reply.fail_after is not None:
            return await _send_json(writer, 500, Reply(status=500).error_body())
        await asyncio.sleep(reply.first_token_delay + reply.delay * max(0, len(tokens) - 1))
        text = "".join(tokens)
        completion = {
            "id": f"chatcmpl-fake{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": text if text or not reply.tool_calls else None,
                        "refusal": None,
                        "annotations": [],
                        **({"tool_calls": reply.tool_call_parts()} if reply.tool_calls else {}),
                    },
                    "logprobs": None,
                    "finish_reason": reply.final_reason,
                }
            ],
            "usage": _usage(body, len(tokens), reply.usage) if reply.report_usage else None,
            "system_fingerprint": "fp_fake",
        }
        request.tokens_sent = len(tokens)
        request.completed = True
        return await _send_json(writer, 200, completion, reply.headers)

    async def _stream_chat(
        self,
        request: RecordedRequest,
        body: dict[str, Any],
        reply: Reply,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        include_usage = reply.report_usage and bool(
            (body.get("stream_options") or {}).get("include_usage")
        )
        base = {
            "id": f"chatcmpl-fake{next(self._ids)}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": str(body.get("model", "")),
            "system_fingerprint": "fp_fake",
        }

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
            data = {**base, "usage": None} if include_usage else dict(base)
            data["choices"] = [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ]
            return _sse(data)

        # Content chunks differ only in their token: encode the rest once. A benchmark streams
        # hundreds of thousands of them through this loop.
        head, _, tail = chunk({"content": "\x00"}).partition(b'"\\u0000"')

        closed = _watch_close(reader)
        tokens = reply.token_list()
        try:
            headers = {"cache-control": "no-cache", **reply.headers}
            await _start_chunked(writer, 200, "text/event-stream; charset=utf-8", headers)
            await _write_chunk(writer, chunk({"role": "assistant", "content": "", "refusal": None}))
            if reply.first_token_delay and await _closed_within(closed, reply.first_token_delay):
                request.disconnected = True
                return False
            # A fixed rate: token N is due N x delay after the first, however late the loop woke
            # for the one before, so a benchmark's upstream keeps its pace under load.
            loop = asyncio.get_running_loop()
            first_due = loop.time()
            for index, token in enumerate(tokens):
                if index and reply.delay:
                    await asyncio.sleep(max(0.0, first_due + index * reply.delay - loop.time()))
                if closed.done():
                    request.disconnected = True
                    return False
                if reply.disconnect_after is not None and index >= reply.disconnect_after:
                    writer.transport.abort()
                    return False
                if reply.fail_after is not None and index >= reply.fail_after:
                    closed.cancel()
                    await _write_chunk(writer, _sse(Reply(status=500).error_body()))
                    await _end_chunked(writer)
                    return True
                data = head + json.dumps(token).encode() + tail
                writer.write(b"%x\r\n%s\r\n" % (len(data), data))
                if writer.transport.get_write_buffer_size() > 65536:
                    await writer.drain()
                request.tokens_sent = index + 1
            if reply.disconnect_after is not None:
                writer.transport.abort()
                return False
            if closed.done():
                request.disconnected = True
                return False
            for index, call in enumerate(reply.tool_call_parts()):
                await _write_chunk(writer, b"".join(chunk(d) for d in _call_deltas(index, call)))
            # Stop watching before the last bytes: once the client has them it may send its
            # next request on this connection, which the watcher must not eat.
            closed.cancel()
            final = chunk({}, reply.final_reason)
            if include_usage:
                usage = _usage(body, len(tokens), reply.usage)
                final += _sse({**base, "choices": [], "usage": usage})
            request.completed = True
            await _write_chunk(writer, final + b"data: [DONE]\n\n")
            await _end_chunked(writer)
            return True
        except ConnectionError:
            request.disconnected = True
            return False
        finally:
            await _stop_watching(closed)

    async def _embeddings(
        self, request: RecordedRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        body = request.json if isinstance(request.json, dict) else {}
        model = str(body.get("model", ""))
        reply = self._take_reply("embeddings", model)
        if reply is not None and reply.first_token_delay:
            # A slow provider: the client waits (or is killed waiting).
            closed = _watch_close(reader)
            if await _closed_within(closed, reply.first_token_delay):
                return False
            await _stop_watching(closed)
        if reply is not None and reply.status != 200:
            return await _send_json(writer, reply.status, reply.error_body(), reply.headers)
        raw = body.get("input", "")
        texts = [raw] if isinstance(raw, str) else [str(t) for t in raw]
        dimensions = int(body.get("dimensions") or self.embedding_dimensions)
        data = []
        for index, text in enumerate(texts):
            vector: Any = fake_embedding(text, dimensions)
            if body.get("encoding_format") == "base64":
                vector = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": vector})
        used = sum(len(t.split()) for t in texts)
        answer = {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": used, "total_tokens": used},
        }
        request.completed = True
        return await _send_json(writer, 200, answer)

    async def _models(
        self, request: RecordedRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        key = (request.authorization or "").removeprefix("Bearer ")
        if key in self.rejected_keys:
            return await _send_json(writer, 401, {"error": _ERROR_DEFAULTS[401]})
        data = [
            {"id": model, "object": "model", "created": 1700000000, "owned_by": "fake"}
            for model in self.models
        ]
        return await _send_json(writer, 200, {"object": "list", "data": data})

    # --- Ollama ------------------------------------------------------------------------------

    async def _pull(
        self, request: RecordedRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        body = request.json if isinstance(request.json, dict) else {}
        model = str(body.get("model") or body.get("name") or "")
        script = self._take_pull(model)
        if script.status != 200:
            return await _send_json(writer, script.status, {"error": script.error})
        lines = [{"status": "pulling manifest"}]
        for layer in range(script.layers):
            digest = hashlib.sha256(f"{model}:{layer}".encode()).hexdigest()
            for step in range(1, script.steps + 1):
                lines.append(
                    {
                        "status": f"pulling {digest[:12]}",
                        "digest": f"sha256:{digest}",
                        "total": script.layer_size,
                        "completed": script.layer_size * step // script.steps,
                    }
                )
        lines += [
            {"status": "verifying sha256 digest"},
            {"status": "writing manifest"},
            {"status": "success"},
        ]
        if script.error_after is not None:
            lines = [*lines[: script.error_after], {"error": script.error}]
        if body.get("stream") is False:
            await asyncio.sleep(script.delay * len(lines))
            last = lines[-1]
            if "error" not in last:
                self.local_models.add(model)
            return await _send_json(writer, 500 if "error" in last else 200, last)
        closed = _watch_close(reader)
        try:
            await _start_chunked(writer, 200, "application/x-ndjson", {})
            for index, line in enumerate(lines):
                if index and script.delay and await _closed_within(closed, script.delay):
                    request.disconnected = True
                    return False
                if index == len(lines) - 1:
                    closed.cancel()
                    if "error" not in line:
                        self.local_models.add(model)
                await _write_chunk(writer, json.dumps(line).encode() + b"\n")
            request.completed = True
            await _end_chunked(writer)
            return True
        except ConnectionError:
            request.disconnected = True
            return False
        finally:
            await _stop_watching(closed)

    async def _tags(
        self, request: RecordedRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        models = [
            {
                "name": name,
                "model": name,
                "modified_at": "2025-01-01T00:00:00Z",
                "size": 4_000_000,
                "digest": hashlib.sha256(name.encode()).hexdigest(),
                "details": {"format": "gguf", "family": "llama"},
            }
            for name in sorted(self.local_models)
        ]
        return await _send_json(writer, 200, {"models": models})

    async def _ps(
        self, request: RecordedRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        models = [
            {
                "name": name,
                "model": name,
                "digest": hashlib.sha256(name.encode()).hexdigest(),
                "details": {"format": "gguf", "family": "llama"},
                **fields,
            }
            for name, fields in sorted(self.running_models.items())
        ]
        return await _send_json(writer, 200, {"models": models})


# --- wire helpers ----------------------------------------------------------------------------


# The answer's shape as instructions show it: an object of one list, `{"facts": [`.
_LIST_SHAPE = re.compile(r'\{\s*"(\w+)"\s*:\s*\[')


def _unscripted(body: dict[str, Any]) -> Reply:
    """The answer to a request nothing was scripted for: the last user message said back,
    except where it cannot be the answer. A JSON object whose instructions show it as one list
    (memory extraction's facts) gets that list empty: valid, and nothing to remember (an echo
    would fail extraction, or become a memory)."""
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_object":
        shape = _LIST_SHAPE.search(_echo(body, role="system").text or "")
        if shape:
            return Reply(text=json.dumps({shape.group(1): []}))
    return _echo(body)


def _echo(body: dict[str, Any], role: str = "user") -> Reply:
    """The last message of ``role`` (the first, for the system prompt) said back."""
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    for message in messages if role == "system" else reversed(messages):
        if message.get("role") == role:
            return Reply(text=_content_text(message.get("content")) or "OK")
    return Reply(text="OK")


def _call_deltas(index: int, call: dict[str, Any]) -> list[dict[str, Any]]:
    """One tool call as OpenAI streams it: id and name first, then the arguments in pieces."""
    arguments = call["function"]["arguments"]
    half = len(arguments) // 2
    head = {"index": index, "id": call["id"], "type": "function"}
    return [
        {"tool_calls": [{**head, "function": {"name": call["function"]["name"], "arguments": ""}}]},
        *(
            {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}
            for piece in (arguments[:half], arguments[half:])
            if piece
        ),
    ]


def _content_text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content or "")


def _usage(body: dict[str, Any], completion_tokens: int, override: dict[str, int] | None) -> dict:
    """Fake counts: words and 3 per message for the prompt, streamed tokens for the answer."""
    messages = body.get("messages") or []
    prompt = sum(
        len(_content_text(m.get("content")).split()) + 3 for m in messages if isinstance(m, dict)
    )
    usage = {"prompt_tokens": prompt, "completion_tokens": completion_tokens}
    usage.update(override or {})
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    return usage


def _error(message: str) -> dict[str, Any]:
    return {
        "error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}
    }


def _sse(data: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


def _head(status: int, headers: Iterable[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _send(
    writer: asyncio.StreamWriter,
    status: int,
    payload: bytes,
    content_type: str,
    headers: dict[str, str] | None = None,
) -> bool:
    head = [
        ("content-type", content_type),
        ("content-length", str(len(payload))),
        ("connection", "keep-alive"),
        ("x-request-id", "req_fake"),
        *(headers or {}).items(),
    ]
    writer.write(_head(status, head) + payload)
    await writer.drain()
    return True


async def _send_json(
    writer: asyncio.StreamWriter, status: int, data: Any, headers: dict[str, str] | None = None
) -> bool:
    return await _send(writer, status, json.dumps(data).encode(), "application/json", headers)


async def _start_chunked(
    writer: asyncio.StreamWriter, status: int, content_type: str, headers: dict[str, str]
) -> None:
    head = [
        ("content-type", content_type),
        ("transfer-encoding", "chunked"),
        ("connection", "keep-alive"),
        ("x-request-id", "req_fake"),
        *headers.items(),
    ]
    writer.write(_head(status, head))
    await writer.drain()


async def _write_chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
    await writer.drain()


async def _end_chunked(writer: asyncio.StreamWriter) -> None:
    writer.write(b"0\r\n\r\n")
    await writer.drain()


def _watch_close(reader: asyncio.StreamReader) -> "asyncio.Future[bytes]":
    """Done when the client closes the connection. The client sends nothing while it reads an
    answer, so a read that returns means it went away: that is how a cancelled stream shows."""
    closed = asyncio.ensure_future(reader.read(1))
    closed.add_done_callback(lambda f: f.cancelled() or f.exception())
    return closed


async def _stop_watching(closed: "asyncio.Future[bytes]") -> None:
    # The watcher must be gone before the next request on this connection is read.
    closed.cancel()
    await asyncio.wait({closed})


async def _closed_within(closed: "asyncio.Future[bytes]", seconds: float) -> bool:
    """Wait ``seconds``; True as soon as the client closes the connection."""
    await asyncio.wait({closed}, timeout=seconds)
    return closed.done() and not closed.cancelled()


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = b""
    while True:
        size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            await reader.readline()
            return body
        body += await reader.readexactly(size)
        await reader.readline()


def main(argv: list[str] | None = None) -> None:
    """Serve in the foreground until Ctrl+C or SIGTERM; print the base URL.

    By default every chat answer echoes the last user message, so Engram's chat can be tried
    without a provider key (docs/chat.md, "Trying chat without a provider key"); memory
    extraction's request finds no facts. With ``--tokens`` every answer is that many tokens at a
    fixed rate: the upstream of ``make bench-chat``, in a process of its own so it never shares a
    core's GIL with what it measures.
    """
    import argparse
    import signal

    parser = argparse.ArgumentParser(description=main.__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    parser.add_argument(
        "--tokens", type=int, default=None, help="answer this many tokens instead of echoing"
    )
    parser.add_argument("--delay", type=float, default=0.02, help="seconds between tokens")
    parser.add_argument("--first-token-delay", type=float, default=0.0)
    args = parser.parse_args(argv)
    server = FakeOpenAI(port=args.port).start()
    if args.tokens is not None:
        server.default_reply = Reply(
            tokens=[" tok"] * args.tokens,
            delay=args.delay,
            first_token_delay=args.first_token_delay,
        )
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    print(server.base_url, flush=True)
    stopped.wait()
    server.stop()


if __name__ == "__main__":
    main()
