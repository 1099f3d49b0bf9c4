"""Web app benchmark: server time of the memories list and search pages for a user with 100k
memories, beside the API's own list and search on the same data.

    make bench-web                                      # a 100k-memory user
    python -m bench.web_bench --heavy 100000 --renders 30

Uses the memories benchmark's database (``engram_bench``), corpus loader and embedder (the real
local model runs on each query, then the corpus answers its vector): one heavy user with
``--heavy`` memories and their HNSW index, and ``--users`` others sharing ``--others``. Each
request goes through Django's test client (every middleware, the session, the template),
timed from request to response. The list is timed on its first page and on pages deep in the
keyset (following each page's cursor); search is hybrid, 20 results, random words.
"""

import argparse
import os
import random
import time
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import numpy as np

from bench.memories_bench import (
    DIMS,
    MODEL,
    WORDS,
    Corpus,
    bench_setup,
    build_heavy_index,
    load,
    machine,
    percentiles,
    reset,
)
from bench.results_io import bench_write_results

SEARCH_RESULTS = 20  # what the web's search page shows


class BenchEmbedder:
    """Runs the real local model on the query (its time is measured), then answers with a
    vector from the synthetic corpus's distribution, as the memories benchmark plans them."""

    name = MODEL
    dimensions = DIMS
    max_tokens = 256

    def __init__(self, corpus: Corpus, topics: np.ndarray) -> None:
        from providers.embeddings import build_embedder

        self.model = build_embedder("local", dimensions=DIMS)
        self.corpus = corpus
        self.topics = topics

    def embed(self, texts: list[str]) -> np.ndarray:
        self.model.embed(texts)
        return np.stack([self.corpus.query_vector(text, self.topics) for text in texts])


def measure(data: dict[str, Any], renders: int) -> dict[str, dict[str, float]]:
    from django.test import Client
    from rest_framework.test import APIClient

    from memories.search import pipeline as search_pipeline
    from memories.search.query_vectors import query_vectors_forget

    user = data["heavy"]
    web = Client(HTTP_HOST="127.0.0.1", HTTP_ACCEPT="text/html")
    web.force_login(user)
    api = APIClient(HTTP_HOST="127.0.0.1")
    api.force_authenticate(user)
    embedder = BenchEmbedder(data["corpus"], data["topics"][user.pk])
    rng = random.Random(5)
    timings: dict[str, list[float]] = {
        "list, first page": [],
        "list, deep pages": [],
        "search (hybrid)": [],
    }
    api_timings: dict[str, list[float]] = {name: [] for name in timings}

    def timed(call, *args, **kwargs) -> tuple[float, Any]:
        started = time.perf_counter()
        response = call(*args, **kwargs)
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, (args, response.status_code)
        return elapsed, response

    with mock.patch.object(search_pipeline, "get_embedder", return_value=embedder):
        for warm_up, sample in [(True, 3), (False, renders)]:
            for _ in range(sample):
                elapsed, _ = timed(web.get, "/memories/")
                api_elapsed, first = timed(api.get, "/api/v1/memories", {"limit": 25})
                if not warm_up:
                    timings["list, first page"].append(elapsed)
                    api_timings["list, first page"].append(api_elapsed)
                # A page far down: the cursor of a memory some thousands in.
                cursor = first.json()["next_cursor"]
                for _ in range(rng.randint(1, 3)):
                    _, deeper = timed(api.get, "/api/v1/memories", {"limit": 100, "cursor": cursor})
                    cursor = deeper.json()["next_cursor"] or cursor
                elapsed, _ = timed(web.get, "/memories/", {"cursor": cursor})
                api_elapsed, _ = timed(api.get, "/api/v1/memories", {"limit": 25, "cursor": cursor})
                if not warm_up:
                    timings["list, deep pages"].append(elapsed)
                    api_timings["list, deep pages"].append(api_elapsed)
                query = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 5)))
                query_vectors_forget()
                elapsed, _ = timed(web.get, "/memories/", {"q": query, "mode": "hybrid"})
                query_vectors_forget()
                api_elapsed, _ = timed(
                    api.post,
                    "/api/v1/memories/search",
                    {"query": query, "mode": "hybrid", "top_k": SEARCH_RESULTS},
                    format="json",
                )
                if not warm_up:
                    timings["search (hybrid)"].append(elapsed)
                    api_timings["search (hybrid)"].append(api_elapsed)
    return {
        name: {"web": percentiles(timings[name]), "api": percentiles(api_timings[name])}
        for name in timings
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"started_at": datetime.now(UTC).isoformat(), "runs": []}
    result["machine"] = machine()
    from django.conf import settings

    settings.RATELIMIT_ENABLE = False  # hundreds of requests a minute by one user
    reset()
    print(f"loading a user with {args.heavy:,} memories ...", flush=True)
    data = load(args.heavy + args.others, users=args.users, heavy=args.heavy)
    index_seconds = build_heavy_index(data["heavy"])
    timings = measure(data, args.renders)
    result["runs"].append(
        {
            "heavy_user_memories": args.heavy,
            "renders": args.renders,
            "index_seconds": index_seconds,
            "ms": timings,
            "load": os.getloadavg(),
        }
    )
    print(markdown(result["runs"]), flush=True)
    return result


def markdown(runs: list[dict]) -> str:
    lines = [
        "| memories of the user | page | web p50 ms | web p95 ms | API p50 ms | API p95 ms |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for run in runs:
        for page, ms in run["ms"].items():
            lines.append(
                f"| {run['heavy_user_memories']:,} | {page} | {ms['web']['p50']:.0f} | "
                f"{ms['web']['p95']:.0f} | {ms['api']['p50']:.0f} | {ms['api']['p95']:.0f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--heavy", type=int, default=100_000)
    parser.add_argument("--others", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--renders", type=int, default=30)
    parser.add_argument("--database", default="engram_bench")
    args = parser.parse_args(argv)
    bench_setup(args.database)
    result = run(args)
    bench_write_results("web", result, markdown(result["runs"]))


if __name__ == "__main__":
    main()
