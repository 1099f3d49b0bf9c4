"""Chat streaming benchmark: the time Engram adds to a streamed answer, over SSE and the
WebSocket, at 1, 100 and 500 concurrent streams on one server process (or ``--workers``), the
server's memory per open stream and its CPU per relayed token.

    make bench-chat
    python -m bench.chat_bench --levels 1,100 --transports sse --turns 5
    python -m bench.chat_bench --levels 500 --workers 2

Set-up: its own database (``engram_bench``, as the other benchmarks), ``--users`` users with
``--memories`` embedded memories each (every turn's memory recall searches real rows), on the
team tier (rate limits on), and an API key and a thread per client. The upstream is the fake
OpenAI-compatible server in a process of its own, streaming ``--tokens`` tokens at a fixed rate:
the first after ``--first-token-delay``, then one every ``--delay``. Engram is one server process
(``make run``'s uvicorn serving ``config.asgi``; ``--workers N`` as ``make run
WEB_CONCURRENCY=N``), with Redis as broker, cache and channel layer:
the follow-up tasks of a turn (title, remembering the exchange, extraction) are queued, not run,
since a worker runs on other cores in production. It embeds with the configured embedder (local
by default). The client runs on asyncio in this process: a raw HTTP/1.1 reader for SSE, the
websockets package for the WebSocket (one socket per client, turns one after another).

Concurrency C: C clients run turns back to back, started evenly over one answer's length S, so
C streams are open at once: each client's first turn warms up, its next one counts (the next
``--turns`` at C = 1), and it goes on with uncounted turns until every client is through. Each
counted turn is checked: status 200, the whole answer in ``message_complete``, no ``error``
event.

Added time = what the client saw minus what the upstream takes by its schedule: first token
minus ``--first-token-delay``; whole answer minus S. The ``direct`` rows are the same client
reading the upstream itself at the same concurrency: what the rig (client, upstream, loopback,
two shared cores) adds on its own. Memory per stream: the server's peak RSS during the level
minus its RSS before it, over C. CPU (all the server's processes): per counted turn (an upper
bound: warm-up and filler turns are in the time), and per relayed token (every turn of the level
over the tokens it relayed). Results: a JSON file in bench/results/ and a markdown
table on stdout.

One module past the usual size: the rig (set-up, upstream, server, the two clients, the levels)
is read from top to bottom as the method behind the numbers in bench/README.md.
"""

import argparse
import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.memories_bench import bench_setup, machine, percentiles, reset
from bench.results_io import RESULTS, bench_write_results

REPO = Path(__file__).resolve().parent.parent
MODEL = "gpt-4o-mini"
QUESTION = "What did I say about my trip to Lisbon and the coffee there?"
BENCH_EMAIL = "chatbench{}@example.com"


@dataclass
class Client:
    """One simulated user session: its key, its thread."""

    key: str
    thread_id: str


@dataclass
class Sample:
    started: float
    first_token: float | None = None  # seconds after the request went out
    total: float | None = None
    error: str = ""


@dataclass
class Target:
    """Where the client connects: Engram (``url``) and the upstream's chat endpoint."""

    url: str
    upstream: str
    pid: int
    tokens: int
    first_token_delay: float
    delay: float
    workers: int = 1

    @property
    def answer_seconds(self) -> float:
        return self.first_token_delay + (self.tokens - 1) * self.delay

    @property
    def expected_text(self) -> str:
        return " tok" * self.tokens


Turn = Callable[[], Awaitable[Sample]]


# --- Set-up ----------------------------------------------------------------------------------


def seed(*, users: int, memories: int, clients: int) -> list[Client]:
    """Users with embedded memories (kept between runs when the counts match), then a fresh
    API key and thread per client."""
    from accounts.models import User
    from accounts.services import api_key_create
    from bench.extraction_bench import embed_pending, fact
    from billing.tiers import Tier
    from chat.models import Thread
    from memories import services
    from memories.models import MemoryChunk, Source
    from providers.embeddings import get_embedder

    people = list(User.objects.filter(email__startswith="chatbench").order_by("email"))
    embedded = MemoryChunk.objects.filter(model=get_embedder().name).count()
    seeded = len(people) == users and embedded == users * memories
    if not seeded:
        started = time.perf_counter()
        reset()
        people = User.objects.bulk_create(
            User(email=BENCH_EMAIL.format(f"{i:04d}"), password="!", tier=Tier.TEAM)
            for i in range(users)
        )
        rng = random.Random(5)
        for person in people:
            drafts = [
                services.MemoryDraft(content=fact(rng, n), source=Source.API)
                for n in range(memories)
            ]
            services.memories_bulk_create(user=person, drafts=drafts)
        embed_pending()  # with no broker configured the bulk create has embedded them already
        print(f"seeded {users * memories} memories in {time.perf_counter() - started:.0f} s")
    Thread.objects.all().delete()
    for person in people:
        person.api_keys.all().delete()
    keys = {
        person.pk: api_key_create(user=person, name="bench", scopes=["chat"])[1]
        for person in people
    }
    result = []
    for i in range(clients):
        person = people[i % len(people)]
        thread = Thread.objects.create(user=person, title=f"bench {i}")
        result.append(Client(key=keys[person.pk], thread_id=str(thread.pk)))
    return result


@contextlib.contextmanager
def upstream(args: argparse.Namespace) -> Iterator[str]:
    """The fake OpenAI-compatible server in its own process; yields its base URL."""
    command = [
        sys.executable, "-m", "testing.fake_openai", "--tokens", str(args.tokens),
        "--delay", str(args.delay), "--first-token-delay", str(args.first_token_delay),
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(10)


# --- Clients ---------------------------------------------------------------------------------


def _http_request(url: str, path: str, headers: dict[str, str], body: dict) -> bytes:
    payload = json.dumps(body).encode()
    lines = [f"POST {path} HTTP/1.1", f"Host: {urlsplit(url).netloc}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    lines += ["Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


def _dechunk(body: bytes) -> bytes:
    out, position = bytearray(), 0
    while position < len(body):
        line_end = body.find(b"\r\n", position)
        if line_end < 0:
            break
        size = int(body[position:line_end].split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += body[line_end + 2 : line_end + 2 + size]
        position = line_end + 4 + size
    return bytes(out)


async def _read_stream(
    url: str, request: bytes, first_marker: bytes, end_marker: bytes, timeout: float
) -> tuple[Sample, bytes]:
    """Send ``request``; time the first ``first_marker`` and read until ``end_marker``."""
    split = urlsplit(url)
    sample = Sample(started=time.perf_counter())
    buffer = bytearray()
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(split.hostname, split.port)
            try:
                writer.write(request)
                while True:
                    data = await reader.read(65536)
                    if not data:
                        break
                    searched_from = max(0, len(buffer) - len(end_marker))
                    buffer += data
                    if sample.first_token is None and first_marker in buffer[searched_from:]:
                        sample.first_token = time.perf_counter() - sample.started
                    if end_marker in buffer[searched_from:]:
                        break
            finally:
                writer.close()
    except (TimeoutError, OSError) as exc:
        sample.error = f"{type(exc).__name__}: {exc}"
    sample.total = time.perf_counter() - sample.started
    head, _, body = bytes(buffer).partition(b"\r\n\r\n")
    if not sample.error and not head.startswith(b"HTTP/1.1 200"):
        sample.error = head.split(b"\r\n")[0].decode("latin-1") or "no answer"
    if b"transfer-encoding: chunked" in head.lower():
        body = _dechunk(body)
    return sample, body


def sse_turn(target: Target, client: Client, timeout: float) -> Turn:
    path = f"/api/v1/threads/{client.thread_id}/models/{MODEL}/messages"
    headers = {"Authorization": f"Bearer {client.key}", "Accept": "text/event-stream"}
    request = _http_request(target.url, path, headers, {"content": QUESTION})

    async def turn() -> Sample:
        sample, body = await _read_stream(
            target.url, request, b"event: token", b"event: close", timeout
        )
        if not sample.error:
            events = {}
            for frame in body.split(b"\n\n"):
                # A frame's lines: "id: …" (resumable streams), "event: …", "data: …".
                fields = dict(line.partition(b": ")[::2] for line in frame.split(b"\n"))
                if b"event" in fields:
                    events[fields[b"event"].decode()] = fields.get(b"data", b"")
            if "error" in events:
                sample.error = events["error"].decode()
            elif "message_complete" not in events:
                sample.error = "no message_complete event"
            elif json.loads(events["message_complete"])["content"] != target.expected_text:
                sample.error = "message_complete does not hold the whole answer"
        return sample

    return turn


def direct_turn(target: Target, client: Client, timeout: float) -> Turn:
    """The same reader against the upstream itself."""
    body = {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": QUESTION}]}
    path = urlsplit(target.upstream).path + "/chat/completions"
    headers = {"Authorization": "Bearer sk-bench"}
    request = _http_request(target.upstream, path, headers, body)

    async def turn() -> Sample:
        sample, body = await _read_stream(
            target.upstream, request, b'"content":" tok"', b"[DONE]", timeout
        )
        if not sample.error and body.count(b'"content":" tok"') != target.tokens:
            sample.error = "the upstream's answer is incomplete"
        return sample

    return turn


async def ws_session(target: Target, client: Client, timeout: float) -> Any:
    """One socket per client; ``turn()`` sends a message and reads its stream."""
    from websockets.asyncio.client import connect

    url = target.url.replace("http://", "ws://") + f"/ws/chat/?token={client.key}"
    socket = await connect(url, subprotocols=["engram.v1"], open_timeout=timeout, max_size=None)
    frame = json.dumps(
        {"type": "chat.send", "thread_id": client.thread_id, "model": MODEL, "content": QUESTION}
    )

    async def turn() -> Sample:
        sample = Sample(started=time.perf_counter())
        try:
            async with asyncio.timeout(timeout):
                await socket.send(frame)
                while True:
                    event = json.loads(await socket.recv())
                    kind = event["type"]
                    if kind == "token" and sample.first_token is None:
                        sample.first_token = time.perf_counter() - sample.started
                    elif kind == "message_complete" and event["content"] != target.expected_text:
                        sample.error = "message_complete does not hold the whole answer"
                    elif kind == "error":
                        sample.error = f"{event['code']}: {event['message']}"
                    elif kind == "close":
                        break
        except (TimeoutError, OSError, Exception) as exc:
            sample.error = sample.error or f"{type(exc).__name__}: {exc}"
        sample.total = time.perf_counter() - sample.started
        return sample

    return socket, turn


# --- Measuring -------------------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (uvicorn's workers under their supervisor)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            # A thread that ended since the listing (the server starts and ends threads).
            with contextlib.suppress(OSError):
                pending += [int(child) for child in task.read_text().split()]
    return found


def rss_kb(pid: int) -> int:
    """The resident memory of ``pid`` and its descendants."""
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def cpu_seconds(pid: int) -> float:
    """The CPU time of ``pid`` and its descendants."""
    ticks = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


async def measure_level(
    target: Target, clients: list[Client], transport: str, *, turns: int, timeout: float
) -> dict[str, Any]:
    concurrency = len(clients)
    answer = target.answer_seconds
    sockets = []
    if transport == "ws":
        sessions = await asyncio.gather(*(ws_session(target, c, timeout) for c in clients))
        sockets = [socket for socket, _ in sessions]
        turn_of = [turn for _, turn in sessions]
    else:
        make = sse_turn if transport == "sse" else direct_turn
        turn_of = [make(target, client, timeout) for client in clients]

    rss_before = rss_kb(target.pid) if transport != "direct" else 0
    cpu_before = cpu_seconds(target.pid)
    counted: list[Sample] = []
    peak = [rss_before]
    per_client = turns if concurrency == 1 else 1
    finished = [0]  # clients done with their counted turns
    relayed = [0]  # turns answered whole, counted or not: the tokens the server relayed

    async def run_client(index: int) -> None:
        """Start staggered, one turn to warm up, the counted turns, then more (uncounted) turns
        until every client is through its counted ones, so none runs with fewer streams open."""
        await asyncio.sleep(index * answer / concurrency)
        done = -1
        while done < per_client or finished[0] < concurrency:
            sample = await turn_of[index]()
            if sample.error:
                counted.append(sample)
                finished[0] += done < per_client
                return  # a client that failed stops (its socket may be gone)
            done += 1
            relayed[0] += 1
            if 0 < done <= per_client:
                counted.append(sample)
                finished[0] += done == per_client

    async def watch_memory() -> None:
        while transport != "direct":
            peak[0] = max(peak[0], rss_kb(target.pid))
            await asyncio.sleep(0.25)

    watcher = asyncio.create_task(watch_memory())
    await asyncio.gather(*(run_client(i) for i in range(concurrency)))
    watcher.cancel()
    cpu_used = cpu_seconds(target.pid) - cpu_before
    for socket in sockets:
        await socket.close()

    good = [s for s in counted if not s.error]
    errors = sorted({s.error for s in counted if s.error})
    result: dict[str, Any] = {
        "transport": transport,
        "streams": concurrency,
        "turns": len(counted),
        "errors": len(counted) - len(good),
        "error_kinds": errors[:5],
        "server_cpu_seconds_per_turn": round(cpu_used / max(1, len(counted)), 4),
        # Every turn of the level, warm-up and filler included, over the tokens they relayed.
        "server_cpu_us_per_token": round(cpu_used * 1e6 / max(1, relayed[0] * target.tokens), 1),
        "server_processes": target.workers,
        "load_average": round(os.getloadavg()[0], 2),
    }
    if good:
        first = [s.first_token * 1000 for s in good if s.first_token is not None]
        whole = [s.total * 1000 for s in good]
        result |= {
            "ttft_ms": percentiles(first),
            "added_ttft_ms": percentiles([t - target.first_token_delay * 1000 for t in first]),
            "added_total_ms": percentiles([t - answer * 1000 for t in whole]),
        }
    if transport != "direct":
        result["rss_before_kb"] = rss_before
        result["rss_peak_kb"] = peak[0]
        result["kb_per_open_stream"] = round((peak[0] - rss_before) / concurrency, 1)
    return result


def run(args: argparse.Namespace, *, target: Target) -> dict[str, Any]:
    """Every level and transport against a running server; the clients exist already."""
    clients = seed(users=args.users, memories=args.memories, clients=max(args.levels))
    timeout = target.answer_seconds * 20 + 60
    rows = []
    # Untimed: the first turns load the embedding model, the catalog and the tokenizer tables
    # (in the one process they reach: with --workers the other may stay cold). --cold skips
    # them, so the first level's requests arrive at processes that loaded nothing, as after a
    # deploy; its memory per stream then includes loading the model (~230 MB a process).
    for transport in () if args.cold else ("sse", "ws"):
        asyncio.run(measure_level(target, clients[:1], transport, turns=1, timeout=timeout))
    for level in args.levels:
        for transport in args.transports:
            row = asyncio.run(
                measure_level(target, clients[:level], transport, turns=args.turns, timeout=timeout)
            )
            print(markdown_row(row), flush=True)
            if row["errors"]:
                print(f"  errors: {row['error_kinds']}", flush=True)
            rows.append(row)
    return {
        "started_at": datetime.now(UTC).isoformat(),
        "machine": machine(),
        "embedder": args.embedder,
        "cold": args.cold,
        "upstream": {
            "tokens": target.tokens,
            "first_token_delay_s": target.first_token_delay,
            "delay_s": target.delay,
            "answer_seconds": round(target.answer_seconds, 3),
        },
        "server_processes": target.workers,
        "users": args.users,
        "memories_per_user": args.memories,
        "rows": rows,
    }


# --- Report ----------------------------------------------------------------------------------

HEADER = (
    "| transport | streams | turns | errors | TTFT p50 ms | added TTFT p50 | **p95** | p99 | "
    "added total p50 ms | p95 | KB per stream | server CPU ms/turn | CPU µs/token | "
    "processes | load |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def markdown_row(row: dict[str, Any]) -> str:
    def get(key: str, p: str) -> Any:
        return row[key][p] if key in row else "-"

    return (
        f"| {row['transport']} | {row['streams']} | {row['turns']} | {row['errors']} | "
        f"{get('ttft_ms', 'p50')} | {get('added_ttft_ms', 'p50')} | "
        f"**{get('added_ttft_ms', 'p95')}** | {get('added_ttft_ms', 'p99')} | "
        f"{get('added_total_ms', 'p50')} | {get('added_total_ms', 'p95')} | "
        f"{row.get('kb_per_open_stream', '-')} | "
        f"{round(row['server_cpu_seconds_per_turn'] * 1000, 1)} | "
        f"{row['server_cpu_us_per_token']} | {row['server_processes']} | {row['load_average']} |"
    )


def markdown(result: dict[str, Any]) -> str:
    return "\n".join([HEADER, *(markdown_row(row) for row in result["rows"])])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--levels", default="1,100,500", help="concurrent streams, comma-separated")
    parser.add_argument("--transports", default="direct,sse,ws")
    parser.add_argument("--turns", type=int, default=10, help="counted turns at 1 stream")
    parser.add_argument("--tokens", type=int, default=500)
    parser.add_argument("--delay", type=float, default=0.02, help="seconds between tokens")
    parser.add_argument("--first-token-delay", type=float, default=0.2)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--memories", type=int, default=50, help="per user")
    parser.add_argument("--embedder", choices=["local", "hashing"], default="local")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--database", default="engram_bench")
    parser.add_argument(
        "--workers", type=int, default=1, help="server processes (uvicorn --workers)"
    )
    parser.add_argument(
        "--cold", action="store_true", help="no warm-up turns: the first level meets cold processes"
    )
    args = parser.parse_args(argv)
    args.levels = [int(level) for level in args.levels.split(",")]
    args.transports = args.transports.split(",")
    os.environ["EMBEDDING_BACKEND"] = args.embedder
    bench_setup(args.database)
    import redis

    from testing.live import live_server

    redis.Redis.from_url(args.redis_url).flushdb()
    with contextlib.ExitStack() as stack:
        base_url = stack.enter_context(upstream(args))
        env = {
            "OPENAI_BASE_URL": base_url,
            "OPENAI_API_KEY": "sk-bench",
            "REDIS_URL": args.redis_url,
            "EMBEDDING_BACKEND": args.embedder,
            "LOG_LEVEL": "WARNING",
        }
        server = stack.enter_context(
            live_server(env, RESULTS / "chat-server.log", workers=args.workers)
        )
        target = Target(
            url=server.url,
            upstream=base_url,
            pid=server.pid,
            tokens=args.tokens,
            first_token_delay=args.first_token_delay,
            delay=args.delay,
            workers=args.workers,
        )
        result = run(args, target=target)
    redis.Redis.from_url(args.redis_url).flushdb()
    bench_write_results("chat", result, markdown(result))


if __name__ == "__main__":
    main()
