"""A heavy user's HNSW index in PostgreSQL, checked as their copy's graph is (resident_ann.py).

HNSW on clustered vectors can walk into the wrong part of the space and stay there: at
``make bench-memories`` 5 of 200 of the heavy user's questions found none of their exact top 10
through their index, at ``hnsw.ef_search`` 100, 200 and 400 alike (bench/HISTORY.md). Their index
answers their filtered searches, and the others while their copy in the process is loaded again
after a write (or when copies are off). So each answer is checked against a sample of their
chunks held in the process: one that leaves out more of the sampled chunks nearer than its last
memory than its edge explains is replaced by the exact search.

The sample: the chunks of every n-th of the user's memories in id order (random UUIDs, so a
uniform sample), read in one statement (the memories' ids from their index, then the sampled
chunks by memory) in the background, when any search of theirs (their copy's too) finds none
or finds it older than ``SAMPLE_SECONDS``; until it is there, answers go unchecked.
"""

import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from django.db import connection

from accounts.models import User
from core.background import BackgroundThread
from core.lru import Lru
from memories.filters import MemoryFilters, memory_filter_q
from memories.models import Memory, MemoryChunk
from memories.search.resident_ann import SENTINELS, too_many_missed
from memories.search.vectors import Ranked, unit_length, vector_records

# A user's sample is read again after this long: it follows what they wrote since.
SAMPLE_SECONDS = 600.0
# Users whose samples a process keeps (~1.5 MB each), the least recently searched out first.
SAMPLED_USERS = 32


@dataclass(frozen=True)
class ChunkSample:
    memories: np.ndarray  # each sampled chunk's memory id, 16 bytes ("V16")
    vectors: np.ndarray  # (sampled, dimensions) float32, unit length
    total: int  # the user's chunks of the model
    read_at: float  # time.monotonic()


def index_stuck(
    *,
    user: User,
    model: str,
    vector: Sequence[float],
    found: Ranked,
    answered: int,
    filters: MemoryFilters,
) -> bool:
    """Whether the index's answer ``found`` (every memory it found, best first, from
    ``answered`` chunks) left out too many of the sampled chunks nearer than its last memory,
    counting only memories still there that ``filters`` allow."""
    sample = _SAMPLES.get((user.pk, model))
    if not found or sample is None or not len(sample.memories):
        return False
    query = unit_length(vector)
    nearer = sample.memories[sample.vectors @ query > found[-1][1]]
    found_ids = {pk for pk, _ in found}
    unfound = [pk for pk in (uuid.UUID(bytes=v.tobytes()) for v in nearer) if pk not in found_ids]
    sampled, total = len(sample.memories), sample.total
    if not too_many_missed(len(unfound), answered=answered, sampled=sampled, total=total):
        return False
    allowed = set(
        Memory.objects.filter(user=user, pk__in=unfound)
        .filter(memory_filter_q(filters))
        .values_list("pk", flat=True)
    )
    unfound = [pk for pk in unfound if pk in allowed]
    return too_many_missed(len(unfound), answered=answered, sampled=sampled, total=total)


def chunk_sample_read(*, user_id: uuid.UUID, model: str) -> ChunkSample:
    """About SENTINELS of the user's chunks of ``model``: those of every n-th memory by id."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH owned AS MATERIALIZED (
                SELECT id, row_number() OVER (ORDER BY id) AS n, count(*) OVER () AS memories
                FROM {Memory._meta.db_table} WHERE user_id = %s
            )
            SELECT (SELECT count(*) FROM {MemoryChunk._meta.db_table}
                    WHERE user_id = %s AND model = %s),
                   string_agg(uuid_send(c.memory_id) || vector_send(c.embedding), ''::bytea)
            FROM owned o JOIN {MemoryChunk._meta.db_table} c
                 ON c.memory_id = o.id AND c.model = %s
            WHERE mod(o.n, greatest(o.memories / %s, 1)) = 0
            """,
            [user_id, user_id, model, model, SENTINELS],
        )
        total, blob = cursor.fetchone()
    memories, vectors = vector_records(blob or b"", "V16")
    return ChunkSample(memories, vectors, int(total or 0), time.monotonic())


def chunk_sample_wanted(*, user_id: uuid.UUID, model: str) -> None:
    """Have the user's sample read in the background if it is missing or old, so that it is
    there when their index next answers."""
    _SAMPLES.get((user_id, model))


def chunk_sample_load(*, user_id: uuid.UUID, model: str) -> ChunkSample:
    """Read the user's sample now, on this thread's connection, and keep it."""
    sample = chunk_sample_read(user_id=user_id, model=model)
    _SAMPLES.put((user_id, model), sample)
    return sample


def _load_in_background(key: tuple) -> None:
    user_id, model = key
    try:
        chunk_sample_load(user_id=user_id, model=model)
    finally:
        _SAMPLES.done(key)


class _Samples:
    """The process's samples, least recently searched first, and who is being read."""

    def __init__(self) -> None:
        self.samples: Lru[tuple, ChunkSample] = Lru(SAMPLED_USERS)
        self.lock = threading.Lock()  # of ``reading``
        self.reading: set[tuple] = set()

    def get(self, key: tuple) -> ChunkSample | None:
        """The sample of ``key``, None until one is read: one is read in the background when
        there is none, or it is older than SAMPLE_SECONDS (a search never waits for it: at 100k
        memories the read takes ~0.1 s)."""
        sample = self.samples.get(key)
        if sample is None or time.monotonic() - sample.read_at > SAMPLE_SECONDS:
            with self.lock:
                if key not in self.reading:
                    self.reading.add(key)
                    _READER.submit(_load_in_background, key)
        return sample

    def put(self, key: tuple, sample: ChunkSample) -> None:
        self.samples.put(key, sample)

    def done(self, key: tuple) -> None:
        with self.lock:
            self.reading.discard(key)


_SAMPLES = _Samples()
_READER = BackgroundThread("index-sample")
