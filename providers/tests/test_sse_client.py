"""The streamed answers' own HTTP/1.1 client: kept connections, a server that closes one, a
proxy in the environment. The gateway's tests cover streams, errors and cancellation."""

import asyncio
import contextlib

import pytest

from providers.llm.gateway import LLMGateway, _proxied
from providers.llm.sse_client import SSEClient
from providers.llm.types import LLMCredentials

pytestmark = pytest.mark.asyncio

MESSAGES = [{"role": "user", "content": "Say hello"}]
ANSWER = (
    b'data: {"choices":[{"delta":{"content":"hi"}}]}\n\n'
    b'data: {"choices":[{"delta":{},"finish_reason":"stop"}],'
    b'"usage":{"prompt_tokens":3,"completion_tokens":1}}\n\n'
    b"data: [DONE]\n\n"
)


async def one_shot_server(connections: list[int]) -> asyncio.Server:
    """Answers streamed requests with keep-alive, and hangs up on a connection idle for 0.1 s:
    what a provider does to a connection kept idle too long."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        with contextlib.suppress(TimeoutError, asyncio.IncompleteReadError):
            while True:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 0.1)
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                    + f"content-length: {len(ANSWER)}\r\n\r\n".encode()
                    + ANSWER
                )
                await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def answer(gateway: LLMGateway, credentials: LLMCredentials) -> str:
    async with gateway.stream(credentials=credentials, model="m", messages=MESSAGES) as chunks:
        return "".join([chunk.delta async for chunk in chunks])


async def test_a_connection_is_kept_and_one_the_server_closed_is_replaced_unseen():
    connections: list[int] = []
    server = await one_shot_server(connections)
    port = server.sockets[0].getsockname()[1]
    credentials = LLMCredentials(provider="vllm", base_url=f"http://127.0.0.1:{port}/v1")

    async with server, LLMGateway(max_retries=0) as gateway:
        first = await answer(gateway, credentials)
        second = await answer(gateway, credentials)  # at once: the kept connection is reused
        await asyncio.sleep(0.3)  # the server has hung up on it by now
        third = await answer(gateway, credentials)

    assert (first, second, third) == ("hi", "hi", "hi")
    assert len(connections) == 2


async def test_a_pool_closes_its_kept_connections():
    connections: list[int] = []
    server = await one_shot_server(connections)
    port = server.sockets[0].getsockname()[1]
    client = SSEClient()
    async with server:
        response = await client.post_stream(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            headers={},
            body=b"{}",
            connect_timeout=1,
            read_timeout=1,
        )
        events = [data async for batch in response.batches() for data in batch]
        assert events[-1] == "[DONE]"
        response.close()
        client.close()

    assert client._idle == {}


async def test_a_proxy_in_the_environment_is_honoured(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,internal.example")

    assert _proxied("https://api.openai.com/v1/chat/completions")
    assert not _proxied("https://models.internal.example/v1/chat/completions")
    assert not _proxied("http://127.0.0.1:8001/v1/chat/completions")


async def test_a_chunked_answer_keeps_its_connection_after_done(fake_openai):
    """OpenAI-style streams send ``[DONE]`` and end the chunked body in a later write; the
    connection still goes back to the pool for the next answer."""
    credentials = LLMCredentials(provider="openai", base_url=fake_openai.base_url, api_key="k")

    async with LLMGateway(max_retries=0) as gateway:
        await answer(gateway, credentials)
        kept = await fake_openai.async_wait_until(
            lambda: sum(map(len, gateway._sse._idle.values())) == 1, timeout=5
        )
        await answer(gateway, credentials)

    assert kept
    assert len(fake_openai.chat_requests) == 2
