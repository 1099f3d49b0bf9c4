"""Linking memories just embedded to their near duplicates, a batch at a time.

An embedding task links each memory it embedded for the first time to the most similar other
memory of the same user and scope (``near_duplicate_of``). Searched one memory at a time, that
was an exact SQL search over the user's vectors per memory, three round trips each: 72% of an
ingest's time on a 1,000-memory user (bench/README.md). Here the candidates of a scope are read
once per batch as raw vectors and compared in one matrix product; a user with a per-user HNSW
index (more vectors than MEMORY_HNSW_USER_THRESHOLD) is searched through it, one memory at a
time, as search does (``selectors.memory_near_duplicate``).

The read of raw vectors lives here, beside the one write that uses it: it is no search a
caller could ask for, only this batch's comparison.
"""

import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection, transaction

from memories.models import Memory, MemoryChunk
from memories.search.vectors import has_vector_index
from memories.selectors import memory_near_duplicate

# A memory just embedded: its id, its one vector, and the text the vector is of.
Newcomer = tuple[Any, np.ndarray, str]


def memories_link_near_duplicates(*, newcomers: Sequence[Newcomer], model: str) -> int:
    """Link each of ``newcomers`` (memories embedded for the first time, one vector each) to
    the memory of the same user and scope whose vector is at least MEMORY_DEDUP_THRESHOLD
    cosine-similar to its own, the most similar one, if there is one (``near_duplicate_of``);
    returns how many were linked.

    Nothing is merged or deleted: sentence embeddings cannot tell "I am allergic" from "I am not
    allergic", or one date, number or name from another. Text that is the same after
    normalisation never gets here (it folds when saved); the link is a hint for extraction's
    LLM consolidation and for the user. A captured prompt still waiting for its response is
    neither linked nor linked to, nor is a memory of several chunks (no one vector stands for
    it), nor one edited since it was embedded.
    """
    threshold = settings.MEMORY_DEDUP_THRESHOLD
    if threshold > 1 or not newcomers:
        return 0
    vectors = {pk: vector for pk, vector, _ in newcomers}
    embedded_text = {pk: content for pk, _, content in newcomers}
    scopes: dict[tuple[Any, str, str], list[Memory]] = defaultdict(list)
    linkable = Memory.objects.select_related("user").filter(
        pk__in=vectors, near_duplicate_of__isnull=True
    )
    for memory in linkable:
        # A memory edited since it was embedded has no vector yet for its new text.
        if memory.content == embedded_text[memory.pk] and not _awaits_response(memory):
            scopes[memory.user_id, memory.agent_id, memory.session_id].append(memory)
    pairs: list[tuple[Memory, uuid.UUID | None]] = []
    for (user_id, agent_id, session_id), memories in scopes.items():
        if has_vector_index(user_id, model):
            pairs += [
                (memory, _nearest_indexed(memory, vectors[memory.pk], model)) for memory in memories
            ]
        else:
            candidates = _scope_vectors(user_id, agent_id, session_id, model)
            pairs += _nearest(memories, vectors, candidates, threshold)
    return _link([(memory, similar) for memory, similar in pairs if similar is not None])


def _awaits_response(memory: Memory) -> bool:
    return bool(memory.prompt) and not memory.response


def _nearest_indexed(memory: Memory, vector: Sequence[float], model: str) -> uuid.UUID | None:
    threshold = settings.MEMORY_DEDUP_THRESHOLD
    return memory_near_duplicate(memory=memory, vector=vector, model=model, threshold=threshold)


def _scope_vectors(
    user_id: Any, agent_id: str, session_id: str, model: str
) -> tuple[list[uuid.UUID], np.ndarray]:
    """The ids and vectors of the scope's memories that can be linked to: one vector of
    ``model`` (a single chunk), not a captured prompt awaiting its response."""
    memories, chunks = Memory._meta.db_table, MemoryChunk._meta.db_table
    # vector_send: the vector's binary form as bytea, four bytes of header and big-endian
    # float4s; read as text, 384 floats a row would cost more than the comparison.
    sql = f"""
        SELECT c.memory_id, vector_send(c.embedding)
        FROM {chunks} c JOIN {memories} m ON m.id = c.memory_id
        WHERE c.user_id = %s AND c.model = %s AND c.position = 0
          AND m.agent_id = %s AND m.session_id = %s
          AND NOT (m.prompt <> '' AND m.response = '')
          AND NOT EXISTS (
              SELECT 1 FROM {chunks} o
              WHERE o.memory_id = c.memory_id AND o.model = c.model AND o.position = 1
          )
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [user_id, model, agent_id, session_id])
        rows = cursor.fetchall()
    if not rows:
        return [], np.zeros((0, 0), dtype=np.float32)
    matrix = np.stack([np.frombuffer(bytes(raw), dtype=">f4", offset=4) for _, raw in rows])
    return [pk for pk, _ in rows], matrix.astype(np.float32)


def _nearest(
    memories: list[Memory],
    vectors: dict[Any, np.ndarray],
    candidates: tuple[list[uuid.UUID], np.ndarray],
    threshold: float,
) -> list[tuple[Memory, uuid.UUID | None]]:
    """For each memory, the most similar candidate other than itself at or above
    ``threshold`` (cosine: the stored vectors are unit length), or None."""
    ids, matrix = candidates
    if not ids:
        return [(memory, None) for memory in memories]
    queries = np.stack([np.asarray(vectors[memory.pk], dtype=np.float32) for memory in memories])
    similarity = queries @ matrix.T
    position = {pk: index for index, pk in enumerate(ids)}
    pairs = []
    for row, memory in enumerate(memories):
        if (own := position.get(memory.pk)) is not None:
            similarity[row, own] = -np.inf
        best = int(np.argmax(similarity[row]))
        pairs.append((memory, ids[best] if similarity[row, best] >= threshold else None))
    return pairs


def _link(pairs: list[tuple[Memory, uuid.UUID]]) -> int:
    """Set each memory's ``near_duplicate_of`` to its pair's id where both still exist and the
    memory still has the text it was embedded with; returns how many were set."""
    if not pairs:
        return 0
    with transaction.atomic():
        # All rows locked in id order (a delete of any waits, or wins and is seen here).
        ids = {memory.pk for memory, _ in pairs} | {similar for _, similar in pairs}
        locked = dict(
            Memory.objects.select_for_update()
            .filter(pk__in=ids)
            .order_by("pk")
            .values_list("pk", "content")
        )
        # Compare-and-set on the text: a memory edited since no longer has this vector.
        kept = []
        for memory, similar in pairs:
            if similar in locked and locked.get(memory.pk) == memory.content:
                memory.near_duplicate_of_id = similar
                kept.append(memory)
        Memory.objects.bulk_update(kept, ["near_duplicate_of"])
    return len(kept)
