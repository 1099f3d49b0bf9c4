"""The latency half of ``make bench-retrieval``: the search endpoint's server time for a user
with thousands of memories, and what the same machine does at the same moment without Engram.

The machine these benchmarks run on is shared, so every figure moves with its neighbours. Each
run therefore also times two baselines next to the endpoint, query by query: the embedder alone
(one short query, the model's own cost), and a plain in-process exact search (that embedding
plus a numpy dot product over the user's vectors, the "in-process peer" issue 18 compares with).
Their ratios to the endpoint say what the code costs whatever the load. The parts of a search
(the embedding, each leg's SQL, both legs in one statement) are timed the same way.
"""

import time
from typing import Any

import numpy as np

from bench.memories_bench import percentiles

WARM_UP = 5


def load_latency_user(loaded: list[tuple[Any, list]], rows: int) -> Any:
    """A user with ``rows`` memories: the set's turns and vectors, repeated in other sessions."""
    from accounts.models import User
    from billing.tiers import Tier
    from memories.models import Memory, MemoryChunk

    user = User.objects.create(email="retrieval-latency@example.com", tier=Tier.TEAM)
    source = list(
        MemoryChunk.objects.filter(user__email__startswith="retrieval-")
        .select_related("memory")
        .order_by("memory__created_at", "memory_id")[:rows]
    )
    copies = [source[i % len(source)] for i in range(rows)]
    memories = Memory.objects.bulk_create(
        Memory(
            user=user, content=chunk.memory.content, content_hash=chunk.memory.content_hash,
            session_id=f"copy-{i}", size_bytes=chunk.memory.size_bytes,
            embedding_status="ready", embedding_model=chunk.model,
        )
        for i, chunk in enumerate(copies)
    )  # fmt: skip
    MemoryChunk.objects.bulk_create(
        MemoryChunk(
            memory=memory, user=user, model=chunk.model, position=0, start=0,
            end=chunk.end, embedding=chunk.embedding,
        )
        for memory, chunk in zip(memories, copies, strict=True)
    )  # fmt: skip
    return user


def _timed(samples: list[float], action, *args, **kwargs) -> Any:
    started = time.perf_counter()
    value = action(*args, **kwargs)
    samples.append((time.perf_counter() - started) * 1000)
    return value


def endpoint(user, texts: list[str]) -> dict:
    """Server time of POST /memories/search in process, per mode: a new query (embedded) and
    the same query again (its vector cached), with the baselines timed between them."""
    from django.conf import settings
    from rest_framework.test import APIClient

    from memories.models import MemoryChunk
    from memories.search.query_vectors import query_vectors_forget
    from providers.embeddings import get_embedder

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]  # the in-process client
    settings.RATELIMIT_ENABLE = False  # hundreds of searches a minute
    client = APIClient()
    client.force_authenticate(user)
    embedder = get_embedder()
    matrix = np.array(
        list(MemoryChunk.objects.filter(user=user).values_list("embedding", flat=True)),
        dtype=np.float32,
    )

    def post(text: str, mode: str) -> None:
        body = {"query": text, "top_k": 10, "mode": mode}
        response = client.post("/api/v1/memories/search", body, format="json")
        assert response.status_code == 200, response.content

    def in_process(text: str) -> None:
        scores = matrix @ embedder.embed([text])[0]
        np.argpartition(-scores, min(10, len(scores) - 1))[:10]

    out: dict[str, Any] = {"resident_load_ms": _resident_loaded(user, post, texts[0])}
    modes = ("semantic", "keyword", "hybrid")
    samples: dict[str, list[float]] = {
        f"{mode} {kind}": [] for mode in modes for kind in ("new", "again")
    } | {"embedding": [], "in_process": []}
    # Query by query, every mode and baseline side by side: a drift of the machine's speed
    # during the run moves them all alike.
    for i, text in enumerate(texts):
        kept = samples if i >= WARM_UP else {name: [] for name in samples}
        for mode in modes:
            query_vectors_forget()  # a new query: embedded again
            _timed(kept[f"{mode} new"], post, text, mode)
            _timed(kept[f"{mode} again"], post, text, mode)
        _timed(kept["embedding"], embedder.embed, [text])
        _timed(kept["in_process"], in_process, text)
    for mode in modes:
        out[mode] = {
            "new_query": percentiles(samples[f"{mode} new"]),
            "repeated_query": percentiles(samples[f"{mode} again"]),
        }
    out["baseline"] = {
        "embedding": percentiles(samples["embedding"]),
        "in_process_exact": percentiles(samples["in_process"]),
    }
    # Nothing was written meanwhile, so the copy loaded before stayed current throughout.
    out["resident_at_end"] = _resident(user, texts[0])
    return out


def _resident_loaded(user, post, text: str) -> float | None:
    """Search once, as a user who starts searching does, then wait for the background copy of
    their data (memories/search/resident.py): the timings are of a user who searches often.
    The wait, in ms, or None when the user is not copied (below the minimum, or turned off):
    then no copy is waited for, which would only end at the minute's limit."""
    from django.conf import settings

    from memories.models import Memory

    below_minimum = Memory.objects.filter(user=user).count() < settings.MEMORY_RESIDENT_MIN_MEMORIES
    if settings.MEMORY_RESIDENT_MB <= 0 or below_minimum:
        return None
    started = time.perf_counter()
    post(text, "semantic")
    while not _resident(user, text):
        if time.perf_counter() - started > 60:
            return None
        time.sleep(0.01)
    return round((time.perf_counter() - started) * 1000, 1)


def _resident(user, text: str) -> bool:
    from memories.search.resident import resident_search
    from providers.embeddings import get_embedder

    return resident_search(user_id=user.pk, model=get_embedder().name, query=text) is not None


def breakdown(user, texts: list[str]) -> dict:
    """The parts of a hybrid search, query by query: the embedding, the semantic leg's SQL,
    the keyword leg's SQL, both legs in one statement (as search sends them), and both legs
    from the user's copy in the process (its generation check included) when there is one."""
    from django.conf import settings

    from memories.filters import MemoryFilters
    from memories.search.rankers import ResidentRanker, SqlRanker
    from memories.search.resident import resident_search
    from memories.search.vectors import has_vector_index
    from providers.embeddings import get_embedder

    embedder = get_embedder()
    heavy = has_vector_index(user.pk, embedder.name)
    parts: dict[str, list[float]] = {
        "embedding": [], "semantic": [], "keyword": [], "both": [], "resident": []
    }  # fmt: skip

    def resident_legs(text: str, vector) -> None:
        copy = resident_search(user_id=user.pk, model=embedder.name, query=text)
        if copy is not None:
            ResidentRanker(copy).rank(vector=vector, threshold=None, keyword=True, depth=depth)

    def sql_legs(text: str, vector, keyword: bool) -> None:
        ranker = SqlRanker(
            user=user, query=text, model=embedder.name, filters=MemoryFilters(), heavy=heavy
        )
        ranker.rank(vector=vector, threshold=None, keyword=keyword, depth=depth)

    depth = settings.MEMORY_SEARCH_DEPTH
    for i, text in enumerate(texts):
        samples = parts if i >= WARM_UP else {name: [] for name in parts}
        vector = _timed(samples["embedding"], embedder.embed, [text])[0]
        for part, with_vector, with_keyword in (
            ("semantic", True, False),
            ("keyword", False, True),
            ("both", True, True),
        ):
            _timed(samples[part], sql_legs, text, vector if with_vector else None, with_keyword)
        if _resident(user, text):
            _timed(samples["resident"], resident_legs, text, vector)
    return {part: percentiles(samples) for part, samples in parts.items() if samples}


def markdown(latency: dict) -> list[str]:
    base = latency["baseline"]
    lines = [
        f"Latency, {latency['rows']:,}-memory user, {latency['queries']} queries (ms; load "
        f"{latency['load_average']}):",
        "",
        "| mode | new p50 | new p95 | repeated p50 | repeated p95 | new p95 / in-process p95 |",
        "|---|---|---|---|---|---|",
    ]
    for mode in ("semantic", "keyword", "hybrid"):
        new, again = latency[mode]["new_query"], latency[mode]["repeated_query"]
        ratio = new["p95"] / max(base["in_process_exact"]["p95"], 1e-9)
        lines.append(
            f"| {mode} | {new['p50']} | {new['p95']} | {again['p50']} | {again['p95']} "
            f"| {ratio:.2f} |"
        )
    for name, row in base.items():
        lines.append(f"| (baseline: {name}) | {row['p50']} | {row['p95']} | | | |")
    if latency.get("resident_load_ms") is not None:
        loaded = latency["resident_load_ms"]
        lines.append(f"| (the user's copy loaded into the process, once) | {loaded} | | | | |")
    for name, row in latency["breakdown"].items():
        lines.append(f"| (part: {name}) | {row['p50']} | {row['p95']} | | | |")
    return lines
