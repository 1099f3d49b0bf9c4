"""Under ASGI a request's sync parts run in one thread, kept for the requests that follow,
while requests that overlap each get a thread of their own."""

import asyncio
import json

import pytest
from channels.testing import ApplicationCommunicator

from config.asgi import application, django_asgi_app
from core.tests import urls
from testing.asgi import http_scope

pytestmark = [pytest.mark.urls("core.tests.urls"), pytest.mark.asyncio]


def _get(query: bytes = b"") -> ApplicationCommunicator:
    return ApplicationCommunicator(application, http_scope("GET", "/test/thread", query=query))


async def _thread(communicator: ApplicationCommunicator) -> int:
    await communicator.send_input({"type": "http.request", "body": b""})
    start = await communicator.receive_output(timeout=10)
    body = await communicator.receive_output(timeout=10)
    assert start["status"] == 200
    await communicator.wait(timeout=10)
    return json.loads(body["body"])["thread"]


async def _idle_again() -> None:
    # A thread is given back once the work its request left queued has run.
    for _ in range(100):
        if django_asgi_app.threads.idle:
            return
        await asyncio.sleep(0.01)


async def test_requests_one_after_another_reuse_one_thread():
    while django_asgi_app.threads.idle:  # left by earlier tests
        django_asgi_app.threads.idle.pop().shutdown(wait=False)
    first = await _thread(_get())
    await _idle_again()

    assert await _thread(_get()) == first


async def test_overlapping_requests_run_in_threads_of_their_own():
    urls.RELEASE.clear()
    waiting = _get(b"wait=1")
    await waiting.send_input({"type": "http.request", "body": b""})
    try:
        # The first request's view holds its thread; the second is not queued behind it.
        second = await _thread(_get())
    finally:
        urls.RELEASE.set()
    start = await waiting.receive_output(timeout=10)
    body = await waiting.receive_output(timeout=10)

    assert start["status"] == 200 and json.loads(body["body"])["thread"] != second
