"""The gateway against the fake OpenAI-compatible server: answers, streams, retries, errors,
cancellation. No test reaches the network."""

import asyncio
import socket

import pytest

from core.errors import drf_exception_handler
from providers.llm.errors import (
    ContextTooLong,
    ProviderAddressRefused,
    ProviderAuthFailed,
    ProviderError,
    ProviderUnavailable,
    RateLimitedUpstream,
)
from providers.llm.gateway import LLMGateway
from providers.llm.sse_client import SSEParser
from providers.llm.types import LLMCredentials, StreamChunk
from testing.fake_openai import Reply
from testing.fixtures import SERVER_KEY

pytestmark = pytest.mark.asyncio

MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Say hello"},
]


@pytest.fixture
def credentials(llm_upstream) -> LLMCredentials:
    return LLMCredentials(provider="openai", base_url=llm_upstream.base_url, api_key=SERVER_KEY)


def http_status(error: ProviderError) -> int:
    """What the API answers for ``error`` (the llm app maps provider errors to statuses)."""
    return drf_exception_handler(error, {}).status_code


async def collect(stream) -> list[StreamChunk]:
    async with stream as chunks:
        return [chunk async for chunk in chunks]


async def test_complete_returns_text_usage_and_finish_reason(llm_gateway, credentials, fake_openai):
    fake_openai.script(Reply(text="Hello there", usage={"prompt_tokens": 12}))

    completion = await llm_gateway.complete(
        credentials=credentials, model="gpt-4o-mini", messages=MESSAGES, temperature=0.3
    )

    assert completion.text == "Hello there"
    assert completion.finish_reason == "stop"
    assert completion.model == "gpt-4o-mini"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (12, 2)
    assert not completion.usage.estimated
    sent = fake_openai.last_request
    assert sent.authorization == f"Bearer {SERVER_KEY}"
    assert sent.json["model"] == "gpt-4o-mini"
    assert sent.json["messages"] == MESSAGES
    assert sent.json["temperature"] == 0.3
    assert "stream" not in sent.json


async def test_options_are_passed_through(llm_gateway, credentials, fake_openai):
    await llm_gateway.complete(
        credentials=credentials,
        model="gpt-4o-mini",
        messages=MESSAGES,
        max_tokens=50,
        options={"top_p": 0.5, "stop": ["\n"]},
    )

    body = fake_openai.last_request.json
    assert (body["max_tokens"], body["top_p"], body["stop"]) == (50, 0.5, ["\n"])


async def test_stream_yields_deltas_in_order_then_a_final_chunk_with_usage(
    llm_gateway, credentials, fake_openai
):
    fake_openai.script(Reply(tokens=["Hel", "lo", " world"], delay=0.1))

    chunks = await collect(
        llm_gateway.stream(credentials=credentials, model="gpt-4o-mini", messages=MESSAGES)
    )

    # Tokens that come apart go on apart: nothing waits to batch them.
    assert [c.delta for c in chunks[:-1]] == ["Hel", "lo", " world"]
    assert not any(c.final for c in chunks[:-1])
    final = chunks[-1]
    assert final.final and final.delta == "" and final.finish_reason == "stop"
    assert final.usage.completion_tokens == 3 and not final.usage.estimated
    body = fake_openai.last_request.json
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert fake_openai.last_request.completed


async def test_usage_is_counted_when_the_provider_reports_none(
    llm_gateway, credentials, fake_openai
):
    fake_openai.script(Reply(text="Hello there", report_usage=False))
    fake_openai.script(Reply(text="Hello there", report_usage=False))

    completion = await llm_gateway.complete(
        credentials=credentials, model="gpt-4o-mini", messages=MESSAGES
    )
    chunks = await collect(
        llm_gateway.stream(credentials=credentials, model="gpt-4o-mini", messages=MESSAGES)
    )

    for usage in (completion.usage, chunks[-1].usage):
        assert usage.estimated
        assert usage.completion_tokens == 2  # "Hello", " there" in o200k_base
        assert usage.prompt_tokens == 3 + 2 * 3 + 1 + 3 + 1 + 2  # priming, framing, fields


async def test_a_rate_limit_is_retried_then_succeeds(llm_gateway, credentials, fake_openai):
    fake_openai.script(Reply.rate_limited(retry_after=0), Reply(text="ok"))

    completion = await llm_gateway.complete(
        credentials=credentials, model="gpt-4o-mini", messages=MESSAGES
    )

    assert completion.text == "ok"
    assert len(fake_openai.chat_requests) == 2


async def test_a_stream_is_retried_on_429_and_5xx_before_its_first_token(
    llm_gateway, credentials, fake_openai
):
    fake_openai.script(Reply.rate_limited(retry_after=None), Reply.server_error(502))
    fake_openai.script(Reply(tokens=["a", "b"]))

    chunks = await collect(
        llm_gateway.stream(credentials=credentials, model="gpt-4o-mini", messages=MESSAGES)
    )

    assert "".join(c.delta for c in chunks if not c.final) == "ab"
    assert len(fake_openai.chat_requests) == 3


async def test_a_dropped_connection_before_the_first_token_is_retried(
    llm_gateway, credentials, fake_openai
):
    fake_openai.script(Reply(tokens=["x"], disconnect_after=0), Reply(tokens=["y"]))

    chunks = await collect(
        llm_gateway.stream(credentials=credentials, model="gpt-4o-mini", messages=MESSAGES)
    )

    assert [c.delta for c in chunks if not c.final] == ["y"]


async def test_a_rate_limit_that_persists_is_rate_limited_upstream(
    llm_gateway, credentials, fake_openai, settings
):
    settings.LLM_MAX_RETRIES = 2
    fake_openai.script(*[Reply.rate_limited(retry_after=0.01) for _ in range(3)])

    with pytest.raises(RateLimitedUpstream) as caught:
        await llm_gateway.complete(credentials=credentials, model="gpt-4o-mini", messages=MESSAGES)

    assert len(fake_openai.chat_requests) == 3
    error = caught.value
    assert (http_status(error), error.code) == (429, "RATE_LIMITED_UPSTREAM")
    assert error.details["retry_after"] == 0.01
    assert error.details["upstream_status"] == 429
    response = drf_exception_handler(error, {})
    # The header is whole seconds, rounded up (RFC 9110).
    assert response.status_code == 429 and response["Retry-After"] == "1"
    assert response.data["error"]["code"] == "RATE_LIMITED_UPSTREAM"


async def test_a_long_retry_after_is_not_waited_for(llm_gateway, credentials, fake_openai):
    fake_openai.script(Reply.rate_limited(retry_after=60))

    with pytest.raises(RateLimitedUpstream) as caught:
        await llm_gateway.complete(credentials=credentials, model="gpt-4o-mini", messages=MESSAGES)

    assert caught.value.details["retry_after"] == 60
    assert len(fake_openai.chat_requests) == 1


async def test_exhausted_quota_is_not_retried(llm_gateway, credentials, fake_openai):
    fake_openai.script(
        Reply.rate_limited(error={"code": "insufficient_quota", "message": "Quota exceeded."})
    )

    with pytest.raises(RateLimitedUpstream) as caught:
        await llm_gateway.complete(credentials=credentials, model="gpt-4o-mini", messages=MESSAGES)

    assert caught.value.details["quota_exhausted"] is True
    assert len(fake_openai.chat_requests) == 1


async def test_server_errors_that_persist_are_provider_unavailable(
    llm_gateway, credentials, fake_openai, settings
):
    settings.LLM_MAX_RETRIES = 1
    fake_openai.script(Reply.server_error(), Reply.server_error(503))

    with pytest.raises(ProviderUnavailable) as caught:
        await llm_gateway.complete(credentials=credentials, model="gpt-4o-mini", messages=MESSAGES)

    assert (http_status(caught.value), caught.value.code) == (503, "PROVIDER_UNAVAILABLE")
    assert caught.value.details["upstream_status"] == 503
    assert len(fake_openai.chat_requests) == 2


async def test_a_rejected_key_is_auth_failed_at_once_and_the_key_is_not_echoed(
    llm_gateway, credentials, fake_openai
):
    fake_openai.script(
        Reply.auth_failed(error={"message": f"Incorrect API key provided: {SERVER_KEY}."})
    )

    with pytest.raises(ProviderAuthFailed) as caught:
        await llm_gateway.complete(credentials=credentials, model="gpt-4o-mini", messages=MESSAGES)

    error = caught.value
    assert (http_status(error), error.code) == (502, "PROVIDER_AUTH_FAILED")
    assert error.details["provider"] == "openai" and error.details["upstream_status"] == 401
    assert SERVER_KEY not in str(error.details) and SERVER_KEY not in error.message
    assert len(fake_openai.chat_requests) == 1


async def test_a_stream_with_a_rejected_key_is_auth_failed(llm_gateway, credentials, fake_openai):
    fake_openai.script(Reply.auth_failed())

    with pytest.raises(ProviderAuthFailed):
        await collect(
            llm_gateway.stream(credentials=credentials, model="gpt-4o-mini", messages=MESSAGES)
        )


async def test_a_context_length_error_is_context_too_long(llm_gateway, credentials, fake_openai):
    fake_openai.script(Reply.context_too_long(limit=128000, used=130000))

    with pytest.raises(ContextTooLong) as caught:
        await collect(
            llm_gateway.stream(credentials=credentials, model="gpt-4o-mini", messages=MESSAGES)
        )

    error = caught.value
    assert (http_status(error), error.code) == (400, "CONTEXT_TOO_LONG")
    assert "128000" in error.details["upstream_message"]
    assert len(fake_openai.chat_requests) == 1


@pytest.mark.parametrize(
    "message",
    [
        "prompt is too long: 210000 tokens > 200000 maximum",  # Anthropic
        "The input token count (1200000) exceeds the maximum number of tokens allowed",  # Gemini
    ],
)
async def test_other_providers_context_errors_are_recognised(
    llm_gateway, credentials, fake_openai, message
):
    fake_openai.script(Reply(status=400, error={"message": message, "code": None}))

    with pytest.raises(ContextTooLong):
        await llm_gateway.complete(credentials=credentials, model="m", messages=MESSAGES)


async def test_another_refusal_is_a_provider_error(llm_gateway, credentials, fake_openai):
    fake_openai.script(Reply(status=404, error={"message": "The model `nope` does not exist"}))

    with pytest.raises(ProviderError) as caught:
        await llm_gateway.complete(credentials=credentials, model="nope", messages=MESSAGES)

    assert type(caught.value) is ProviderError
    assert (http_status(caught.value), caught.value.code) == (502, "PROVIDER_ERROR")


async def test_a_500_mid_stream_raises_after_the_partial_tokens_and_is_not_retried(
    llm_gateway, credentials, fake_openai
):
    fake_openai.script(Reply(tokens=["one", " two", " three"], fail_after=2))
    received = []

    with pytest.raises(ProviderUnavailable) as caught:
        async with llm_gateway.stream(
            credentials=credentials, model="gpt-4o-mini", messages=MESSAGES
        ) as chunks:
            async for chunk in chunks:
                received.append(chunk.delta)

    # Deltas that arrive together may come as one chunk; none is lost.
    assert "".join(received) == "one two"
    assert caught.value.details["partial"] is True
    assert len(fake_openai.chat_requests) == 1


async def test_a_connection_dropped_mid_stream_raises_after_the_partial_tokens(
    llm_gateway, credentials, fake_openai
):
    fake_openai.script(Reply(tokens=["one", " two", " three"], disconnect_after=1))
    received = []

    with pytest.raises(ProviderUnavailable):
        async with llm_gateway.stream(
            credentials=credentials, model="gpt-4o-mini", messages=MESSAGES
        ) as chunks:
            async for chunk in chunks:
                received.append(chunk.delta)

    assert received == ["one"]
    assert len(fake_openai.chat_requests) == 1


async def test_closing_a_stream_closes_the_upstream_connection(
    llm_gateway, credentials, fake_openai
):
    fake_openai.script(Reply(tokens=[f"t{i} " for i in range(200)], delay=0.02))

    async with llm_gateway.stream(
        credentials=credentials, model="gpt-4o-mini", messages=MESSAGES
    ) as chunks:
        first = [await chunks.__anext__(), await chunks.__anext__()]

    assert [c.delta for c in first] == ["t0 ", "t1 "]
    request = fake_openai.last_request
    assert await fake_openai.async_wait_until(lambda: request.disconnected, timeout=2)
    assert not request.completed and request.tokens_sent < 20


async def test_cancelling_the_reading_task_closes_the_upstream_connection(
    llm_gateway, credentials, fake_openai
):
    fake_openai.script(Reply(tokens=[f"t{i} " for i in range(200)], delay=0.02))
    received: list[str] = []

    async def consume() -> None:
        async with llm_gateway.stream(
            credentials=credentials, model="gpt-4o-mini", messages=MESSAGES
        ) as chunks:
            async for chunk in chunks:
                received.append(chunk.delta)

    task = asyncio.create_task(consume())
    while len(received) < 3:
        await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    request = fake_openai.last_request
    assert await fake_openai.async_wait_until(lambda: request.disconnected, timeout=2)
    assert not request.completed


async def test_a_silent_provider_times_out(credentials, fake_openai):
    fake_openai.script(Reply(text="late", first_token_delay=1.0))

    async with LLMGateway(read_timeout=0.1, max_retries=0) as gateway:
        with pytest.raises(ProviderUnavailable) as caught:
            await collect(
                gateway.stream(credentials=credentials, model="gpt-4o-mini", messages=MESSAGES)
            )

    assert "in time" in caught.value.message


async def test_an_unreachable_provider_is_unavailable_after_retries(llm_gateway, settings):
    settings.LLM_MAX_RETRIES = 1
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    credentials = LLMCredentials(provider="openai", base_url=f"http://127.0.0.1:{port}/v1")

    with pytest.raises(ProviderUnavailable) as caught:
        await llm_gateway.complete(credentials=credentials, model="gpt-4o-mini", messages=MESSAGES)

    assert caught.value.details == {"provider": "openai", "model": "gpt-4o-mini"}


async def test_nothing_from_the_environment_is_sent(llm_gateway, fake_openai, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-from-the-environment")
    keyless = LLMCredentials(provider="ollama", base_url=fake_openai.base_url)

    await llm_gateway.complete(credentials=keyless, model="llama3:8b", messages=MESSAGES)

    sent = fake_openai.last_request
    assert sent.authorization == "Bearer no-key"
    assert "openai-organization" not in sent.headers
    assert "environment" not in str(sent.headers)


def users_own(base_url: str) -> LLMCredentials:
    return LLMCredentials("custom", base_url, "sk-users-own", base_url_from_user=True)


async def test_a_users_base_url_on_the_servers_own_network_is_refused_at_the_connection(
    llm_gateway, fake_openai
):
    # The fake server is on 127.0.0.1: where a user's URL must not lead unless allowed.
    credentials = users_own(fake_openai.base_url)

    with pytest.raises(ProviderAddressRefused) as completing:
        await llm_gateway.complete(credentials=credentials, model="m", messages=MESSAGES)
    with pytest.raises(ProviderAddressRefused):
        await collect(llm_gateway.stream(credentials=credentials, model="m", messages=MESSAGES))

    assert fake_openai.requests == []
    assert completing.value.code == "PROVIDER_ADDRESS_REFUSED"
    assert completing.value.details == {"host": "127.0.0.1", "provider": "custom", "model": "m"}
    assert http_status(completing.value) == 400


async def test_a_users_host_name_is_resolved_and_checked_when_connecting(
    llm_gateway, fake_openai, monkeypatch
):
    # A name that pointed elsewhere when the key was saved and now answers with loopback.
    port = fake_openai.base_url.rsplit(":", 1)[1].split("/")[0]
    real_getaddrinfo = socket.getaddrinfo

    def rebound(host, *args, **kwargs):
        host = "127.0.0.1" if host == "models.rebind.example" else host
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebound)
    credentials = users_own(f"http://models.rebind.example:{port}/v1")

    with pytest.raises(ProviderAddressRefused):
        await collect(llm_gateway.stream(credentials=credentials, model="m", messages=MESSAGES))
    with pytest.raises(ProviderAddressRefused):
        await llm_gateway.complete(credentials=credentials, model="m", messages=MESSAGES)

    assert fake_openai.requests == []


async def test_the_operator_may_allow_local_base_urls(llm_gateway, fake_openai, settings):
    settings.LLM_ALLOW_LOCAL_BASE_URLS = True
    fake_openai.script(Reply(text="Hi from the box"), Reply(text="Streamed"))
    credentials = users_own(fake_openai.base_url)

    completion = await llm_gateway.complete(credentials=credentials, model="m", messages=MESSAGES)
    chunks = await collect(
        llm_gateway.stream(credentials=credentials, model="m", messages=MESSAGES)
    )

    assert completion.text == "Hi from the box"
    assert "".join(chunk.delta for chunk in chunks) == "Streamed"


async def test_credentials_do_not_show_the_key():
    assert "sk-secret" not in repr(LLMCredentials("openai", "http://x", "sk-secret"))


async def test_concurrent_streams_share_one_gateway(llm_gateway, credentials, fake_openai):
    fake_openai.default_reply = Reply(tokens=["a", "b", "c"], delay=0.01)

    results = await asyncio.gather(
        *[
            collect(
                llm_gateway.stream(credentials=credentials, model="gpt-4o-mini", messages=MESSAGES)
            )
            for _ in range(20)
        ]
    )

    assert all("".join(c.delta for c in chunks) == "abc" for chunks in results)


async def test_events_that_arrive_in_one_read_come_out_together():
    """A process behind on hundreds of streams reads several tokens at once; they go on as one
    chunk rather than one by one (see LLMGateway._stream)."""
    parser = SSEParser()
    reads = [b'data: {"a": 1}\n\ndata: {"a": 2}\r\n\r\ndata: {"a"', b": 3}\n\n", b"data: [DONE]"]

    batches = [parser.feed(read) for read in reads] + [parser.end()]

    assert batches == [['{"a": 1}', '{"a": 2}'], ['{"a": 3}'], [], ["[DONE]"]]


@pytest.mark.parametrize("header", [{"retry-after": "1e999"}, {"retry-after-ms": "inf"}])
async def test_a_retry_after_that_is_no_finite_number_is_left_out(
    llm_gateway, credentials, fake_openai, settings, header
):
    # It reached the client's Retry-After header (a 500 once rounded up) and the JSON body.
    settings.LLM_MAX_RETRIES = 0
    fake_openai.script(Reply(status=429, headers=header))

    with pytest.raises(RateLimitedUpstream) as caught:
        await llm_gateway.complete(credentials=credentials, model="gpt-4o-mini", messages=MESSAGES)

    assert "retry_after" not in caught.value.details
    response = drf_exception_handler(caught.value, {})
    assert response.status_code == 429 and "Retry-After" not in response
