"""The latency half of ``make bench-retrieval``: the search endpoint's server time for a user
with thousands of memories, and what the same machine does at the same moment without Engram.

The machine these benchmarks run on is shared, so every figure moves with its neighbours. Each
run therefore also times three baselines next to the endpoint, query by query: the embedder alone
(one short query, the model's own cost), a plain in-process exact search (that embedding plus a
numpy dot product over the user's vectors, the "in-process peer" issue 18 compares with), and
the same exact search served over HTTP by the same server with nothing else (the floor,
bench/search_floor.py, after the same pause as a search). Their ratios to the endpoint say what
the code costs whatever the load. The parts of a search (the embedding, each leg's SQL, both legs
in one statement) are timed the same way.
"""

import time
from typing import Any

import numpy as np

from bench.memories_bench import percentiles

WARM_UP = 5
FLOOR = "bench.search_floor:application"


def load_latency_user(loaded: list[tuple[Any, list]], rows: int) -> Any:
    """A user with ``rows`` memories: the set's turns and vectors, repeated in other sessions."""
    from django.db import connection

    from accounts.models import User
    from billing.tiers import Tier
    from memories.models import Memory, MemoryChunk

    # A self-hosted install's tier: its 600 requests a minute pace the benchmark's client.
    user = User.objects.create(email=f"retrieval-latency-{rows}@example.com", tier=Tier.SELF_HOSTED)
    source = list(
        MemoryChunk.objects.filter(user__email__startswith="retrieval-")
        .exclude(user__email__startswith="retrieval-latency-")
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
    # The statistics and visibility map of an established user's tables (what autovacuum
    # leaves within a minute of a bulk write): without them the first minute's statements plan
    # for a user of one row and autovacuum runs during the timing (bench/HISTORY.md).
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE memories_memory")
        cursor.execute("VACUUM ANALYZE memories_memorychunk")
    return user


def _timed(samples: list[float], action, *args, **kwargs) -> Any:
    started = time.perf_counter()
    value = action(*args, **kwargs)
    samples.append((time.perf_counter() - started) * 1000)
    return value


def endpoint(user, texts: list[str]) -> dict:
    """Hybrid search over HTTP (bench/search_http.py) by ``user``, query by query: a new query
    (never sent before: the server embeds it) and the same query again (its vector cached),
    with the baselines timed between them, and each answer's recall@10 against an exact search
    of the same query in this process."""
    from django.conf import settings

    from bench.memories_bench import exact_ids
    from bench.search_http import SearchClient, goal, search_server
    from memories.models import MemoryChunk
    from providers.embeddings import get_embedder

    embedder = get_embedder()
    matrix = np.array(
        list(MemoryChunk.objects.filter(user=user).values_list("embedding", flat=True)),
        dtype=np.float32,
    )

    def in_process(text: str) -> None:
        scores = matrix @ embedder.embed([text])[0]
        np.argpartition(-scores, min(10, len(scores) - 1))[:10]

    samples: dict[str, list[float]] = {
        "new": [], "again": [], "new_search": [], "embedding": [], "in_process": [], "floor": []
    }  # fmt: skip
    recalls, paths = [], {}
    # Its own server: every query is new to it, and a copy of the user's data in it is theirs.
    # It searches as this process does: the same model, and the weight and depth it tuned.
    names = ("EMBEDDING_BACKEND", "MEMORY_SEARCH_DEPTH", "MEMORY_SEARCH_SEMANTIC_WEIGHT")
    env = {name: str(getattr(settings, name)) for name in names}
    floor_env = {**env, "BENCH_FLOOR_USER": str(user.pk)}
    with search_server(env=env) as address, search_server(app=FLOOR, env=floor_env) as bare:
        client, floor = SearchClient(address), SearchClient(bare)
        rows = matrix.shape[0]
        out: dict[str, Any] = {"rows": rows, "resident_load_ms": _copy_loaded(client, user, rows)}
        # Query by query, the search and the baselines side by side: a drift of the machine's
        # speed during the run moves them all alike.
        for i, text in enumerate(texts):
            kept = samples if i >= WARM_UP else {name: [] for name in samples}
            answer = client.search(user, text)
            kept["new"].append(answer.ms)
            kept["new_search"].append(answer.search_ms)
            kept["again"].append(client.search(user, text).ms)
            kept["floor"].append(floor.search(user, text, rested=True).ms)
            vector = _timed(kept["embedding"], embedder.embed, [text])[0]
            _timed(kept["in_process"], in_process, text)
            if i < WARM_UP:
                continue
            expected = exact_ids(user, text, vector, model=embedder.name, mode="hybrid", top_k=10)
            recalls.append(len(set(answer.ids) & set(expected)) / max(1, len(expected)))
            paths[answer.vector_path] = paths.get(answer.vector_path, 0) + 1
        client.close()
        floor.close()
    out["hybrid"] = {
        "new_query": percentiles(samples["new"]),
        "repeated_query": percentiles(samples["again"]),
        # Of a new query's time, the search's own (its took_ms): the rest is the request's.
        "new_query_search_ms": percentiles(samples["new_search"]),
    }
    out["baseline"] = {
        "embedding": percentiles(samples["embedding"]),
        "in_process_exact": percentiles(samples["in_process"]),
        # The same query to bench/search_floor.py: the model and the server, nothing of Engram's.
        "http_floor": percentiles(samples["floor"]),
    }
    out["recall_at_10"] = round(float(np.mean(recalls)), 4)
    out["min_recall"] = round(min(recalls), 2)
    out["vector_paths"] = paths
    embedding_p95 = out["baseline"]["embedding"]["p95"]
    out["goal"] = goal(out["hybrid"]["new_query"]["p95"], embedding_p95, factor=1.3, plus_ms=3)
    return out


def _copy_loaded(client, user, rows: int) -> float | None:
    """Search until the server answers from its copy of the user's data (resident.py), as a
    user who searches often finds it: the wait in ms; None when it keeps no copy of them (too
    few memories, or turned off). A query of its own, so the measured ones stay new."""
    from django.conf import settings

    if settings.MEMORY_RESIDENT_MB <= 0 or rows < settings.MEMORY_RESIDENT_MIN_MEMORIES:
        return None
    started = time.perf_counter()
    while time.perf_counter() - started < 60:
        if client.search(user, "warm-up: when did we last talk", top_k=1).vector_path == "resident":
            return round((time.perf_counter() - started) * 1000, 1)
    return None


def breakdown(user, texts: list[str]) -> dict:
    """The parts of a hybrid search, query by query: the embedding, the semantic leg's SQL,
    the keyword leg's SQL, both legs in one statement (as search sends them), and both legs
    from the user's copy in the process (its generation check included) when there is one."""
    from django.conf import settings

    from memories.filters import MemoryFilters
    from memories.search.rankers import ResidentRanker, SqlRanker
    from memories.search.resident import resident_index_load, resident_search
    from memories.search.vectors import has_vector_index
    from providers.embeddings import get_embedder

    embedder = get_embedder()
    heavy = has_vector_index(user.pk, embedder.name)
    copied = settings.MEMORY_RESIDENT_MB > 0 and resident_index_load(
        user_id=user.pk, model=embedder.name
    )
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
        if copied:
            _timed(samples["resident"], resident_legs, text, vector)
    return {part: percentiles(samples) for part, samples in parts.items() if samples}


def markdown(latency: dict) -> list[str]:
    lines = [
        f"Latency over HTTP, {latency['queries']} queries a user (ms, p50 / p95; load "
        f"{latency['load_average']} at the start, {latency['load_average_at_end']} at the end):",
        "",
        "| memories | the embedding alone | in-process exact | HTTP floor (model + numpy) "
        "| **HTTP hybrid, new query** | HTTP hybrid, repeated "
        "| goal: new p95 ≤ 1.3 * embedding + 3 | recall@10 (min) | path |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for user in latency["users"]:
        base, hybrid = user["baseline"], user["hybrid"]
        cells = [
            base["embedding"], base["in_process_exact"], base["http_floor"],
            hybrid["new_query"], hybrid["repeated_query"],
        ]  # fmt: skip
        p50_p95 = [f"{cell['p50']} / {cell['p95']}" for cell in cells]
        met = "met" if user["goal"]["met"] else "**not met**"
        paths = ", ".join(
            f"{path or 'none'} {count}" for path, count in user["vector_paths"].items()
        )
        lines.append(
            f"| {user['rows']:,} | {' | '.join(p50_p95)} | {met} (≤ {user['goal']['limit_ms']}) "
            f"| {user['recall_at_10']} ({user['min_recall']}) | {paths} |"
        )
    rows = latency["users"][-1]["rows"]
    for name, row in latency["breakdown"].items():
        lines.append(
            f"| (in process, {rows:,}: {name}) | {row['p50']} / {row['p95']} | | | | | | | |"
        )
    return lines
