"""A search's query embedding starts as soon as its body has arrived, before authentication, for
API keys whose last search here was answered (Engram's search and mem0's); and core.asgi shows a
route's body to its hook."""

import json
import threading

import pytest
from channels.testing import ApplicationCommunicator
from rest_framework.test import APIClient

from accounts.models import ApiScope
from accounts.services import api_key_create
from config.asgi import application
from core.asgi import EARLY_BODY_MAX_BYTES, early_body_hook
from interop.mem0_compat.prefetch import search_body_received as mem0_search_body_received
from memories.api.prefetch import search_body_received, trusted_forget
from memories.search.query_vectors import query_vectors_forget
from providers.embeddings import get_embedder
from testing.asgi import http_scope

pytestmark = pytest.mark.django_db
SEARCH = "/api/v1/memories/search"
MEM0_SEARCH = "/mem0/v3/memories/search/"


@pytest.fixture
def key(user) -> str:
    trusted_forget()
    query_vectors_forget()
    return api_key_create(user=user, name="extension", scopes=[ApiScope.MEMORIES_READ])[1]


@pytest.fixture
def embedded(monkeypatch) -> threading.Event:
    """Set when the model is asked to embed "where is the garden"."""
    embedder, started = get_embedder(), threading.Event()
    embed = embedder.embed

    def watched(texts):
        if texts == ["where is the garden"]:
            started.set()
        return embed(texts)

    monkeypatch.setattr(embedder, "embed", watched)
    return started


def search(secret: str, body: dict) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client.post(SEARCH, body, format="json").status_code


def body_received(secret: str, body: dict) -> None:
    search_body_received({"authorization": f"Bearer {secret}"}, json.dumps(body).encode())


def test_a_key_that_searched_starts_its_next_querys_embedding_from_the_body(key, embedded):
    garden = {"query": "  where is the garden  "}
    body_received(key, garden)
    # A key this process never answered: nothing runs before it is authenticated.
    assert not embedded.wait(0.2)

    assert search(key, {"query": "first search"}) == 200
    body_received(key, garden)

    assert embedded.wait(10)
    assert search(key, garden) == 200


@pytest.mark.parametrize(
    "body", [{"query": "where is the garden", "mode": "keyword"}, {"q": "where is the garden"}]
)
def test_a_search_that_needs_no_vector_starts_none(key, embedded, body):
    assert search(key, {"query": "first search"}) == 200

    body_received(key, body)

    assert not embedded.wait(0.2)


def test_a_key_whose_search_was_refused_is_forgotten(key, embedded):
    assert search(key, {"query": "first search"}) == 200
    assert search(key, {"query": "first search", "top_k": 0}) == 400

    body_received(key, {"query": "where is the garden"})

    assert not embedded.wait(0.2)


def test_a_mem0_clients_search_gets_the_same_head_start(key, embedded):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    headers = {"authorization": f"Token {key}"}
    body = json.dumps({"query": "where is the garden", "user_id": "alice"}).encode()
    mem0_search_body_received(headers, body)
    assert not embedded.wait(0.2)

    assert client.post(MEM0_SEARCH, {"query": "first", "user_id": "alice"}).status_code == 200
    mem0_search_body_received(headers, body)

    assert embedded.wait(10)


def test_the_search_routes_show_their_body_to_the_prefetch():
    assert early_body_hook(SEARCH) is search_body_received
    assert early_body_hook(MEM0_SEARCH) is mem0_search_body_received
    assert early_body_hook("/api/v1/memories") is None


SHOWN: list[tuple[dict, bytes]] = []


def shown(headers, body) -> None:
    SHOWN.append((headers, body))


def failing(headers, body) -> None:
    raise RuntimeError("a bug in a hook")


async def _echoed(chunks: list[bytes]) -> tuple[int, dict]:
    communicator = ApplicationCommunicator(
        application,
        http_scope("POST", "/test/echo", headers=[(b"content-type", b"application/json")]),
    )
    for i, chunk in enumerate(chunks):
        more = i < len(chunks) - 1
        await communicator.send_input({"type": "http.request", "body": chunk, "more_body": more})
    start = await communicator.receive_output(timeout=10)
    body = await communicator.receive_output(timeout=10)
    return start["status"], json.loads(body["body"])


@pytest.mark.urls("core.tests.urls")
@pytest.mark.asyncio
async def test_a_routes_whole_body_reaches_its_hook_once_and_the_view_still(settings):
    settings.EARLY_BODY_HOOKS = {"/test/echo": f"{__name__}.shown"}
    SHOWN.clear()

    status, echoed = await _echoed([b'{"query": ', b'"where is', b' the garden"}'])

    assert (status, echoed) == (200, {"received": {"query": "where is the garden"}})
    assert [body for _, body in SHOWN] == [b'{"query": "where is the garden"}']
    assert SHOWN[0][0]["content-type"] == "application/json"

    # A body past the hook's size is the view's alone.
    SHOWN.clear()
    text = "x" * EARLY_BODY_MAX_BYTES
    status, echoed = await _echoed([b'{"text": "', text.encode(), b'"}'])
    assert (status, echoed) == (200, {"received": {"text": text}})
    assert SHOWN == []


@pytest.mark.urls("core.tests.urls")
@pytest.mark.asyncio
async def test_a_failing_hook_fails_no_request(settings):
    settings.EARLY_BODY_HOOKS = {"/test/echo": f"{__name__}.failing"}

    assert await _echoed([b'{"a": 1}']) == (200, {"received": {"a": 1}})
