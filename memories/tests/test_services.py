"""Services against the real database: capture, dedupe, history, bulk, embedding."""

import pytest
from django.db import connection

from core.errors import Conflict, PayloadTooLarge, QuotaExceeded, ValidationFailed
from memories import services
from memories.models import (
    CaptureReceipt,
    EmbeddingStatus,
    HistoryEvent,
    IndexStatus,
    Memory,
    MemoryChunk,
    MemoryHistory,
    UserVectorIndex,
)
from memories.services import MemoryDraft, records
from memories.tests.factories import MemoryFactory
from providers.embeddings import EmbeddingUnavailable, get_embedder

pytestmark = pytest.mark.django_db


def test_create_stores_content_hash_size_and_history(user):
    memory, created = services.memory_create(
        user=user, draft=MemoryDraft(content="I like green tea.", tags=[" tea ", "tea", "drinks"])
    )

    assert created
    assert memory.embedding_status == EmbeddingStatus.PENDING
    assert memory.tags == ["tea", "drinks"]
    assert memory.content_hash == services.content_hash("I like green tea.")
    assert memory.size_bytes > len("I like green tea.")
    (event,) = MemoryHistory.objects.filter(memory_id=memory.pk)
    assert (event.event, event.old_content, event.new_content) == ("create", "", memory.content)


def test_identical_content_in_the_same_scope_is_stored_once(user):
    first, _ = services.memory_create(user=user, draft=MemoryDraft(content="same text"))

    again, created = services.memory_create(user=user, draft=MemoryDraft(content="same text "))

    assert not created and again.pk == first.pk
    assert Memory.objects.filter(user=user).count() == 1


def test_identical_content_in_another_scope_or_of_another_user_is_stored(user, other_user):
    services.memory_create(user=user, draft=MemoryDraft(content="same text"))

    _, other_scope = services.memory_create(
        user=user, draft=MemoryDraft(content="same text", agent_id="agent-7")
    )
    _, other_owner = services.memory_create(user=other_user, draft=MemoryDraft(content="same text"))

    assert other_scope and other_owner


def test_prompt_then_response_composes_the_content_and_repeats_harmlessly(user):
    memory, _ = services.memory_create(
        user=user, draft=MemoryDraft(prompt="What is RRF?", source="extension")
    )
    assert memory.content == "What is RRF?"

    memory = services.memory_response_save(memory=memory, response="Reciprocal rank fusion.")
    again = services.memory_response_save(memory=memory, response="Reciprocal rank fusion.")

    assert again.content == "What is RRF?\n\nReciprocal rank fusion."
    assert again.embedding_status == EmbeddingStatus.PENDING
    events = MemoryHistory.objects.filter(memory_id=memory.pk).order_by("created_at")
    assert [e.event for e in events] == ["create", "update"]
    assert events[1].old_content == "What is RRF?"
    assert set(events[1].changed_fields) == {"response", "content"}


def test_a_note_without_a_prompt_takes_no_response(user):
    memory, _ = services.memory_create(user=user, draft=MemoryDraft(content="a note"))

    with pytest.raises(ValidationFailed):
        services.memory_response_save(memory=memory, response="an answer")

    memory.refresh_from_db()
    assert memory.content == "a note"


def test_update_of_content_drops_old_vectors_and_reembeds(user, embed_now):
    memory, _ = services.memory_create(user=user, draft=MemoryDraft(content="old text"))
    embed_now(memory)
    assert memory.chunks.count() == 1

    memory = services.memory_update(memory=memory, changes={"content": "new text"})

    assert memory.embedding_status == EmbeddingStatus.PENDING
    assert memory.chunks.count() == 0
    assert memory.content_hash == services.content_hash("new text")


def test_update_to_the_content_of_another_memory_is_a_conflict(user):
    first, _ = services.memory_create(user=user, draft=MemoryDraft(content="one"))
    second, _ = services.memory_create(user=user, draft=MemoryDraft(content="two"))

    with pytest.raises(Conflict) as caught:
        services.memory_update(memory=second, changes={"content": "one"})

    assert caught.value.details == {"existing_id": str(first.pk)}
    second.refresh_from_db()
    assert second.content == "two"


def test_update_without_changes_writes_no_history(user):
    memory, _ = services.memory_create(user=user, draft=MemoryDraft(content="x", title="t"))

    services.memory_update(memory=memory, changes={"title": "t"})

    assert MemoryHistory.objects.filter(memory_id=memory.pk).count() == 1


def test_delete_keeps_the_history_with_the_old_text(user):
    memory, _ = services.memory_create(user=user, draft=MemoryDraft(content="forget me"))
    memory_id = memory.pk

    services.memory_delete(memory=memory)

    assert not Memory.objects.filter(pk=memory_id).exists()
    last = MemoryHistory.objects.filter(memory_id=memory_id).latest("created_at")
    assert (last.event, last.old_content) == (HistoryEvent.DELETE, "forget me")


def test_delete_all_removes_memories_vectors_and_history_of_that_user_only(
    user, other_user, embed_now
):
    mine = [
        services.memory_create(user=user, draft=MemoryDraft(content=f"m{i}"))[0] for i in range(3)
    ]
    theirs, _ = services.memory_create(user=other_user, draft=MemoryDraft(content="keep"))
    embed_now(*mine, theirs)

    deleted = services.memories_delete_all(user=user)

    assert deleted == 3
    assert not Memory.objects.filter(user=user).exists()
    assert not MemoryChunk.objects.filter(user=user).exists()
    assert not MemoryHistory.objects.filter(user=user).exists()
    assert MemoryChunk.objects.filter(user=other_user).count() == 1


def test_delete_all_takes_a_captures_receipt_with_its_memory(user, auth_client):
    # The browser extension sends every capture with an Idempotency-Key: its receipt points at
    # the memory, and a delete in SQL must not trip over it.
    for key in ("first", "second"):
        captured = auth_client.post(
            "/api/v1/memories/prompts",
            {"prompt": f"A {key} prompt", "provider": "chatgpt"},
            format="json",
            HTTP_IDEMPOTENCY_KEY=key,
        )
        assert captured.status_code == 201, captured.content
    services.memory_create(user=user, draft=MemoryDraft(content="typed"))

    deleted = auth_client.delete("/api/v1/memories?confirm=true")

    assert deleted.status_code == 200 and deleted.json()["deleted"] == 3
    assert not CaptureReceipt.objects.exists()


def test_every_row_pointing_at_a_memory_is_one_the_bulk_delete_takes():
    pointing = {
        (field.related_model, field.field.name)
        for field in Memory._meta.get_fields(include_hidden=True)
        if field.auto_created and not field.concrete
    }

    assert pointing == {(Memory, "near_duplicate_of")} | {
        (model, "memory") for model in records.DELETED_WITH_A_MEMORY
    }, "records._delete_memories deletes in SQL: teach it the new relation"


@pytest.mark.parametrize("content", ["", "   \n "])
def test_empty_content_is_refused(user, content):
    with pytest.raises(ValidationFailed):
        services.memory_create(user=user, draft=MemoryDraft(content=content))


def test_content_over_the_limit_is_too_large_with_the_limit(user, settings):
    settings.MEMORY_MAX_CONTENT_CHARS = 100

    with pytest.raises(PayloadTooLarge) as caught:
        services.memory_create(user=user, draft=MemoryDraft(content="x" * 101))

    assert caught.value.details == {"limit_chars": 100, "length": 101}
    assert not Memory.objects.exists()


def test_bulk_is_all_or_nothing_with_errors_by_index(user):
    drafts = [MemoryDraft(content="fine"), MemoryDraft(content=" "), MemoryDraft(content="ok")]

    with pytest.raises(ValidationFailed) as caught:
        services.memories_bulk_create(user=user, drafts=drafts)

    assert set(caught.value.details["items"]) == {"1"}
    assert not Memory.objects.exists()


def test_bulk_dedupes_within_the_batch_and_against_stored(user):
    stored, _ = services.memory_create(user=user, draft=MemoryDraft(content="already"))
    drafts = [MemoryDraft(content=c) for c in ("new", "already", "new", "other")]

    results = services.memories_bulk_create(user=user, drafts=drafts)

    assert [r.created for r in results] == [True, False, False, True]
    assert results[1].memory.pk == stored.pk
    assert results[2].memory.pk == results[0].memory.pk
    assert Memory.objects.filter(user=user).count() == 3


def test_bulk_refuses_more_than_500(user):
    with pytest.raises(ValidationFailed):
        services.memories_bulk_create(user=user, drafts=[MemoryDraft(content="x")] * 501)


def test_the_tier_limit_is_enforced(user, monkeypatch):
    from billing import tiers

    limited = tiers.TIERS[tiers.Tier.FREE].__class__(
        **{**vars(tiers.TIERS[tiers.Tier.FREE]), "memories": 2}
    )
    monkeypatch.setitem(tiers.TIERS, tiers.Tier.FREE, limited)
    services.memory_create(user=user, draft=MemoryDraft(content="1"))

    with pytest.raises(QuotaExceeded) as caught:
        services.memories_bulk_create(
            user=user, drafts=[MemoryDraft(content="2"), MemoryDraft(content="3")]
        )

    assert caught.value.details["limit"] == 2
    assert Memory.objects.filter(user=user).count() == 1


def test_embedding_writes_chunks_and_marks_ready(user, embed_now, settings):
    settings.MEMORY_CHUNK_TOKENS = 20
    settings.MEMORY_CHUNK_OVERLAP_TOKENS = 5
    short = MemoryFactory(user=user, content="a short memory")
    long = MemoryFactory(user=user, content=" ".join(f"word{i}" for i in range(50)))

    embed_now(short, long)

    assert short.embedding_status == long.embedding_status == EmbeddingStatus.READY
    assert short.embedding_model == get_embedder().name
    assert short.chunks.count() == 1
    positions = list(long.chunks.order_by("position").values_list("position", "start", "end"))
    assert len(positions) == 3 and positions[0][1] == 0 and positions[-1][2] == len(long.content)


def test_embedding_twice_writes_the_same_result(user, embed_now):
    memory = MemoryFactory(user=user)
    embed_now(memory)
    before = list(memory.chunks.values_list("id", "embedding"))

    assert services.memories_embed(memory_ids=[memory.pk]) == 0

    assert list(memory.chunks.values_list("id", "embedding")) == before


def test_a_memory_changed_while_it_was_embedded_keeps_its_new_state(user, monkeypatch):
    memory = MemoryFactory(user=user, content="the first text")
    embedder = get_embedder()
    original = embedder.embed

    def embed_while_user_edits(texts):
        # The user edits the memory after the task read it, before the task writes.
        services.memory_update(memory=memory, changes={"content": "the second text"})
        return original(texts)

    monkeypatch.setattr(embedder, "embed", embed_while_user_edits)

    assert services.memories_embed(memory_ids=[memory.pk], embedder=embedder) == 0

    memory.refresh_from_db()
    assert memory.embedding_status == EmbeddingStatus.PENDING
    assert memory.content == "the second text"
    assert not memory.chunks.exists()


def test_task_retries_provider_errors_then_marks_failed(user, settings, monkeypatch):
    from memories.tasks import embed_memories

    settings.EMBEDDING_MAX_RETRIES = 2
    memory = MemoryFactory(user=user)
    calls = []

    def down(**kwargs):
        calls.append(1)
        raise EmbeddingUnavailable("connection refused")

    monkeypatch.setattr(services, "memories_embed", down)
    monkeypatch.setattr("memories.tasks._backoff_seconds", lambda retries: 0)

    embed_memories.apply(args=[[str(memory.pk)]])

    memory.refresh_from_db()
    assert len(calls) == 3  # the first try and two retries
    assert memory.embedding_status == EmbeddingStatus.FAILED
    assert "connection refused" in memory.embedding_error


def test_user_past_the_threshold_gets_a_partial_hnsw_index(user, other_user, settings, embed_now):
    settings.MEMORY_HNSW_USER_THRESHOLD = 5
    memories = MemoryFactory.create_batch(5, user=user)
    MemoryFactory(user=other_user)

    embed_now(*memories)
    created = services.vector_indexes_ensure(user_ids=[user.pk], model=get_embedder().name)
    services.vector_index_build(index_id=created[0])

    index = UserVectorIndex.objects.get(user=user)
    assert (index.status, index.rows) == (IndexStatus.READY, 5)
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [index.name])
        (definition,) = cursor.fetchone()
    assert "USING hnsw" in definition and str(user.pk) in definition
    assert not services.vector_indexes_ensure(user_ids=[other_user.pk], model=index.model)
