"""The memories API through its URLs: status, body, error shape, owner scoping, query counts."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from memories import selectors
from memories.models import EmbeddingStatus, Memory, MemorySummary
from memories.tests.factories import MemoryFactory

pytestmark = pytest.mark.django_db

BASE = "/api/v1/memories"


def error_of(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    assert error["request_id"] == response["X-Request-ID"]
    return error


def test_create_answers_201_then_200_for_the_same_content(auth_client, committing):
    body = {"content": "Remember the milk", "tags": ["errands"], "provider": "claude"}

    first = committing(lambda: auth_client.post(BASE, body, format="json"))
    second = auth_client.post(BASE, body, format="json")

    assert first.status_code == 201 and second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    memory = Memory.objects.get(pk=first.json()["id"])
    assert memory.embedding_status == EmbeddingStatus.READY  # the eager task ran on commit


def test_prompt_capture_then_response(auth_client, committing):
    created = committing(
        lambda: auth_client.post(
            f"{BASE}/prompts",
            {"prompt": "How do I cook rice?", "provider": "chatgpt", "conversation_id": "c-1"},
            format="json",
        )
    )
    assert created.status_code == 201
    memory_id = created.json()["id"]
    assert created.json()["source"] == "extension"

    answer = {"response": "Rinse it, then 1:1.5 water."}
    saved = committing(
        lambda: auth_client.post(f"{BASE}/{memory_id}/response", answer, format="json")
    )
    again = auth_client.post(f"{BASE}/{memory_id}/response", answer, format="json")

    assert saved.status_code == again.status_code == 200
    assert again.json()["content"] == "How do I cook rice?\n\nRinse it, then 1:1.5 water."
    history = auth_client.get(f"{BASE}/{memory_id}/history").json()["results"]
    assert [event["event"] for event in history] == ["create", "update"]


def test_get_patch_delete_and_history(auth_client, user):
    memory = MemoryFactory(user=user, content="draft")
    url = f"{BASE}/{memory.pk}"

    assert auth_client.get(url).json()["content"] == "draft"
    patched = auth_client.patch(url, {"content": "final", "importance": 0.9}, format="json")
    assert patched.status_code == 200 and patched.json()["content"] == "final"
    assert auth_client.delete(url).status_code == 204
    error_of(auth_client.get(url), 404, "NOT_FOUND")

    events = auth_client.get(f"{url}/history").json()["results"]
    assert [(e["event"], e["old_content"], e["new_content"]) for e in events] == [
        ("update", "draft", "final"),
        ("delete", "final", ""),
    ]


def test_another_users_memory_is_a_404_everywhere(auth_client, other_user):
    theirs = MemoryFactory(user=other_user)
    url = f"{BASE}/{theirs.pk}"

    error_of(auth_client.get(url), 404, "NOT_FOUND")
    error_of(auth_client.patch(url, {"title": "x"}, format="json"), 404, "NOT_FOUND")
    error_of(auth_client.delete(url), 404, "NOT_FOUND")
    error_of(auth_client.post(f"{url}/response", {"response": "x"}), 404, "NOT_FOUND")
    error_of(auth_client.get(f"{url}/history"), 404, "NOT_FOUND")
    assert Memory.objects.filter(pk=theirs.pk).exists()


def test_list_paginates_newest_first_with_filters_in_fixed_queries(auth_client, user, other_user):
    for i in range(5):
        MemoryFactory(user=user, content=f"m{i}", tags=["a"] if i % 2 else [], provider="claude")
    MemoryFactory(user=other_user)

    with CaptureQueriesContext(connection) as queries:
        page = auth_client.get(BASE, {"limit": 2}).json()
    first_page_queries = len(queries)
    rest = auth_client.get(BASE, {"limit": 2, "cursor": page["next_cursor"]}).json()
    tagged = auth_client.get(BASE, {"tag": "a", "provider": "claude"}).json()
    with CaptureQueriesContext(connection) as queries:
        auth_client.get(BASE, {"limit": 100})

    assert [m["content"] for m in page["results"]] == ["m4", "m3"]
    assert page["has_more"] and [m["content"] for m in rest["results"]] == ["m2", "m1"]
    assert {m["content"] for m in tagged["results"]} == {"m1", "m3"}
    assert len(queries) == first_page_queries  # the page size does not change the query count


def test_bulk_creates_and_reports_duplicates(auth_client, user):
    body = {"memories": [{"content": "one"}, {"content": "two"}, {"content": "one"}]}

    response = auth_client.post(f"{BASE}/bulk", body, format="json")

    assert response.status_code == 201
    assert [r["created"] for r in response.json()["results"]] == [True, True, False]
    assert Memory.objects.filter(user=user).count() == 2


def test_bulk_keeps_prompts_awaiting_their_response_apart(auth_client, user):
    """As a capture: a prompt with no response yet folds into nothing, nothing into it."""
    body = {
        "memories": [
            {"content": "Plan my week"},
            {"prompt": "Plan my week"},
            {"prompt": "Plan my week"},
            {"prompt": "Plan my week", "response": "Monday: gym."},
            {"prompt": "Plan my week", "response": "Monday: gym."},
        ]
    }

    response = auth_client.post(f"{BASE}/bulk", body, format="json")

    assert response.status_code == 201
    assert [r["created"] for r in response.json()["results"]] == [True, True, True, True, False]
    assert Memory.objects.filter(user=user).count() == 4


def test_bulk_stores_every_field_and_every_acknowledged_id_reads_back(auth_client, user):
    item = {
        "content": "Café notes\twith a tab",
        "title": "Trip",
        "tags": ["travel", "food"],
        "metadata": {"k": [1, "two"], "nested": {"x": None}},
        "importance": 0.9,
        "provider": "claude",
        "agent_id": "agent",
        "session_id": "s1",
        "source_url": "https://example.com/a",
    }
    body = {"memories": [item, {"content": "another"}]}

    results = auth_client.post(f"{BASE}/bulk", body, format="json").json()["results"]

    stored = auth_client.get(f"{BASE}/{results[0]['id']}").json()
    assert {name: stored[name] for name in item} == item
    assert all(auth_client.get(f"{BASE}/{r['id']}").status_code == 200 for r in results)
    history = auth_client.get(f"{BASE}/{results[0]['id']}/history").json()["results"]
    assert [entry["event"] for entry in history] == ["create"]


@pytest.mark.django_db(transaction=True)
def test_ingest_costs_the_same_queries_for_500_memories_as_for_50(auth_client, user):
    def queries_to_ingest(count: int, start: int) -> int:
        notes = [
            {"content": f"Ingest note {n} about sailing."} for n in range(start, start + count)
        ]
        with CaptureQueriesContext(connection) as queries:  # tasks run inline, in the request
            answer = auth_client.post(f"{BASE}/bulk", {"memories": notes}, format="json")
        assert answer.json()["created"] == count
        return len(queries)

    few, many = queries_to_ingest(50, 0), queries_to_ingest(500, 50)

    assert Memory.objects.filter(user=user, embedding_status=EmbeddingStatus.READY).count() == 550
    # Two embedding tasks of 256 instead of one: a handful more, never one per memory.
    assert many - few <= 12


def test_bulk_item_errors_are_reported_by_index_and_nothing_is_written(auth_client, user):
    # An item without text is named beside the others (it was only after they were fixed).
    body = {
        "memories": [
            {"content": "ok"}, {"content": "x", "provider": "myspace"}, "nope", {"content": ""}
        ]
    }  # fmt: skip

    error = error_of(auth_client.post(f"{BASE}/bulk", body, format="json"), 400, "VALIDATION_ERROR")

    assert set(error["details"]["items"]) == {"1", "2", "3"}
    assert "provider" in error["details"]["items"]["1"]
    assert error["details"]["items"]["3"] == {"content": ["This field may not be blank."]}
    assert not Memory.objects.filter(user=user).exists()


def test_export_streams_json_lines_and_import_takes_them_back(auth_client, other_client, user):
    MemoryFactory(user=user, content="first", tags=["t"])
    MemoryFactory(user=user, content="second", provider="gemini")

    response = auth_client.get(f"{BASE}/export")
    assert response.status_code == 200 and response["Content-Type"] == "application/x-ndjson"
    body = b"".join(response.streaming_content)
    lines = [json.loads(line) for line in body.decode().splitlines()]
    assert [line["content"] for line in lines] == ["first", "second"]

    imported = other_client.post(f"{BASE}/import", body, content_type="application/x-ndjson")
    again = auth_client.post(f"{BASE}/import", body, content_type="application/x-ndjson")

    assert imported.json() == {"created": 2, "duplicates": 0, "folded_into": []}
    assert again.json()["duplicates"] == 2
    copy = other_client.get(BASE).json()["results"]
    assert {(m["content"], m["provider"]) for m in copy} == {("first", "api"), ("second", "gemini")}


def test_import_of_a_malformed_line_names_the_line(auth_client, user):
    body = b'{"content": "fine"}\n{not json\n'

    error = error_of(
        auth_client.post(f"{BASE}/import", body, content_type="application/x-ndjson"),
        400,
        "VALIDATION_ERROR",
    )

    assert "Line 2" in error["details"]["body"][0]
    assert not Memory.objects.filter(user=user).exists()


def test_delete_all_needs_confirmation(auth_client, user):
    MemoryFactory.create_batch(3, user=user)

    refused = error_of(auth_client.delete(BASE), 400, "VALIDATION_ERROR")
    assert "confirm=true" in refused["message"]
    assert Memory.objects.filter(user=user).count() == 3

    done = auth_client.delete(f"{BASE}?confirm=true")
    assert done.status_code == 200 and done.json() == {"deleted": 3}


@pytest.mark.parametrize("value", ["yes", "1", "on", "True", "TRUE", "false", ""])
def test_delete_all_accepts_only_the_documented_confirm_value(auth_client, user, value):
    MemoryFactory.create_batch(2, user=user)

    error_of(auth_client.delete(f"{BASE}?confirm={value}"), 400, "VALIDATION_ERROR")

    assert Memory.objects.filter(user=user).count() == 2


def test_stats_count_by_provider_source_and_status(auth_client, user):
    MemoryFactory(user=user, provider="claude", source="extension")
    MemoryFactory(user=user, provider="claude")
    MemoryFactory(user=user, provider="grok")

    stats = auth_client.get(f"{BASE}/stats").json()

    assert stats["total"] == 3
    assert stats["by_provider"] == {"claude": 2, "grok": 1}
    assert stats["by_source"] == {"api": 2, "extension": 1}
    assert stats["by_status"] == {"pending": 3}
    assert stats["storage_bytes"] > 0
    assert stats["limits"]["memories"] == 5000  # the free tier, from billing.tiers


def test_summary_is_extractive_and_recomputed_after_changes(auth_client, committing):
    assert auth_client.get(f"{BASE}/summary").json()["text"] == "No memories yet."

    for content, tags, provider in (
        ("Learning Rust ownership", ["rust"], "claude"),
        ("Rust lifetimes", ["rust"], "claude"),
        ("Rust traits", ["rust"], "claude"),
        ("Bought oat milk", [], "api"),  # no assistant: the door it came through is named
    ):
        body = {"content": content, "tags": tags, "provider": provider}
        committing(lambda body=body: auth_client.post(BASE, body, format="json"))

    summary = auth_client.get(f"{BASE}/summary").json()
    assert summary["generator"] == "extractive" and summary["memory_count"] == 4
    assert "rust" in summary["text"]
    # Where they came from, as a person says it (the raw counts stay in the facts).
    assert "Mostly from Claude (75%), API (25%)." in summary["text"]
    assert summary["facts"]["providers"] == {"claude": 3, "api": 1}
    assert summary["stale"] is False


def test_the_summary_names_the_assistant_or_else_the_door(user):
    for provider, source in [("chatgpt", "extension"), ("api", "web"), ("api", "web"),
                             ("other", "import"), ("api", "api")]:  # fmt: skip
        MemoryFactory(user=user, provider=provider, source=source)

    origins = selectors.memory_summary_facts(user=user)["origins"]

    assert origins == {"Web app": 2, "API": 1, "ChatGPT": 1, "Import": 1}


def test_summary_get_writes_nothing(auth_client, user):
    MemoryFactory(user=user, content="Learning Rust ownership", tags=["rust"])

    with CaptureQueriesContext(connection) as queries:
        summary = auth_client.get(f"{BASE}/summary").json()

    assert summary["memory_count"] == 1 and "rust" in summary["text"]
    assert not MemorySummary.objects.filter(user=user).exists()
    writes = ("INSERT", "UPDATE", "DELETE")
    assert not [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(writes)]


def test_search_endpoint(auth_client, user, embed_now):
    memories = [MemoryFactory(user=user, content=c) for c in ("python tips", "cooking pasta")]
    embed_now(*memories)

    response = auth_client.post(
        f"{BASE}/search", {"query": "python", "top_k": 5, "mode": "semantic"}, format="json"
    )

    body = response.json()
    assert response.status_code == 200
    assert body["results"][0]["content"] == "python tips"
    assert {"score", "highlights", "id", "tags"} <= set(body["results"][0])
    assert body["mode"] == "semantic" and body["took_ms"] >= 0


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("post", "", {"content": ""}, 400, "VALIDATION_ERROR"),
        ("post", "", {"content": "   "}, 400, "VALIDATION_ERROR"),
        ("post", "", {"content": "x", "provider": "myspace"}, 400, "VALIDATION_ERROR"),
        ("post", "", {"content": "x", "source": "fax"}, 400, "VALIDATION_ERROR"),
        ("post", "", {"content": "x", "importance": 2}, 400, "VALIDATION_ERROR"),
        ("post", "/prompts", {"prompt": "x"}, 400, "VALIDATION_ERROR"),
        ("post", "/search", {"query": "x", "mode": "psychic"}, 400, "VALIDATION_ERROR"),
        ("post", "/search", {"query": "x", "top_k": 0}, 400, "VALIDATION_ERROR"),
        ("post", "/search", {"query": "x", "top_k": 101}, 400, "VALIDATION_ERROR"),
        ("post", "/search", {"query": ""}, 400, "VALIDATION_ERROR"),
        (
            "post",
            "/search",
            {"query": "x", "filters": {"metadata": {"k": {"nested": 1}}}},
            400,
            "VALIDATION_ERROR",
        ),
        (
            "post",
            "/search",
            {"query": "x", "filters": {"metadata": {"k": [1]}}},
            400,
            "VALIDATION_ERROR",
        ),
        # A misspelt filter ("tag" is the list's parameter) would otherwise widen the search.
        ("post", "/search", {"query": "x", "filters": {"tag": ["a"]}}, 400, "VALIDATION_ERROR"),
        ("post", "", {"content": "x", "metadata": {"k\u0000": 1}}, 400, "VALIDATION_ERROR"),
        # Raw JSON: a lone surrogate escape, which PostgreSQL could not store.
        ("post", "", '{"content": "x", "metadata": {"k": ["\\ud800"]}}', 400, "VALIDATION_ERROR"),
        ("post", "/search", '{"query": "\\ud800"}', 400, "VALIDATION_ERROR"),
        ("get", "?cursor=not-a-cursor", None, 400, "VALIDATION_ERROR"),
        ("get", "?limit=0", None, 400, "VALIDATION_ERROR"),
        ("get", "?limit=101", None, 400, "VALIDATION_ERROR"),
        ("get", "?provider=myspace", None, 400, "VALIDATION_ERROR"),
        ("get", "/not-a-uuid", None, 404, "NOT_FOUND"),
        ("get", "/not-a-uuid/history", None, 404, "NOT_FOUND"),
        ("patch", "/not-a-uuid", {"title": "x"}, 404, "NOT_FOUND"),
        ("delete", "/not-a-uuid", None, 404, "NOT_FOUND"),
        ("get", "/00000000-0000-4000-8000-000000000000", None, 404, "NOT_FOUND"),
    ],
)
def test_bad_input_is_answered_in_the_error_shape(
    auth_client, user, method, path, body, status, code
):
    if isinstance(body, str):
        response = auth_client.generic(
            method.upper(), f"{BASE}{path}", body, content_type="application/json"
        )
    else:
        response = getattr(auth_client, method)(f"{BASE}{path}", body, format="json")

    error_of(response, status, code)
    assert not Memory.objects.filter(user=user).exists()


def test_content_over_the_limit_is_a_413_with_the_limit(auth_client, user):
    response = auth_client.post(BASE, {"content": "x" * 100_001}, format="json")

    error = error_of(response, 413, "PAYLOAD_TOO_LARGE")
    assert error["details"]["limit_chars"] == 100_000
    assert not Memory.objects.filter(user=user).exists()


def test_bulk_with_an_item_over_the_limit_is_a_413_naming_it(auth_client, user):
    body = {"memories": [{"content": "ok"}, {"content": "x" * 100_001}]}

    error = error_of(
        auth_client.post(f"{BASE}/bulk", body, format="json"), 413, "PAYLOAD_TOO_LARGE"
    )

    assert error["details"]["limit_chars"] == 100_000 and "1" in error["details"]["items"]
    assert not Memory.objects.filter(user=user).exists()


def test_patch_to_oversized_content_is_a_413_and_changes_nothing(auth_client, user):
    memory = MemoryFactory(user=user, content="small")

    response = auth_client.patch(f"{BASE}/{memory.pk}", {"content": "x" * 100_001}, format="json")

    error_of(response, 413, "PAYLOAD_TOO_LARGE")
    memory.refresh_from_db()
    assert memory.content == "small"


def test_unauthenticated_is_a_401(api_client):
    error_of(api_client.get(BASE), 401, "AUTHENTICATION_FAILED")


def test_every_memories_view_declares_the_scope_family():
    from django.urls import get_resolver

    from memories.api import urls

    for pattern in urls.urlpatterns:
        assert pattern.callback.view_class.scope_family == "memories", pattern.name
    assert get_resolver()  # the URLconf loads


def test_a_memory_is_represented_as_drf_represents_it(user, embed_now):
    # MemorySerializer skips DRF's walk over its fields; what it answers must stay DRF's own.
    from rest_framework import serializers

    from memories.api.serializers import MemorySerializer

    plain = MemoryFactory(user=user, content="plain")
    rich = MemoryFactory(
        user=user, content="rich", title="A title", tags=["a", "b"], importance=0.75,
        metadata={"app": "notes", "nested": {"n": [1, 2.5, None]}}, agent_id="agent",
        session_id="s-1", source_url="https://example.com/x", near_duplicate_of=plain,
    )  # fmt: skip
    embed_now(rich)
    serializer = MemorySerializer()

    for memory in Memory.objects.filter(pk__in=[plain.pk, rich.pk]):
        expected = serializers.Serializer.to_representation(serializer, memory)
        assert serializer.to_representation(memory) == expected
        assert list(serializer.to_representation(memory)) == list(expected)
    assert MemorySerializer(Memory.objects.filter(user=user), many=True).data[0]["id"]
