"""A seconds-long smoke run of the memories benchmark: it loads, indexes, searches and reports.
It asserts that the benchmark works and that search is exact enough, never how fast it is."""

import argparse

import pytest

from bench import memories_bench, memories_ingest

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_benchmark_runs_at_a_tiny_scale():
    args = argparse.Namespace(
        rows=[2_000], users=8, queries=3, threshold=150, ingest=0, corpus="manifold"
    )

    result = memories_bench.run(args)

    (run,) = result["search"]
    assert run["rows"] == 2_000 and run["heavy_user_rows"] == 200
    assert {(row["users"], row["mode"]) for row in run["results"]} == {
        ("small", "semantic"),
        ("small", "hybrid"),
        ("heavy", "semantic"),
        ("heavy", "hybrid"),
    }
    heavy_semantic = next(
        row for row in run["results"] if row == {**row, "users": "heavy", "mode": "semantic"}
    )
    assert "hnsw" in heavy_semantic["vector_paths"]
    assert all(row["recall_at_10"] >= 0.9 for row in run["results"])
    heavy_hybrid = next(
        row for row in run["results"] if row == {**row, "users": "heavy", "mode": "hybrid"}
    )
    assert heavy_hybrid["keyword_plan_recall"] >= 0.9
    from_copy = [row for row in run["results"] if row["copy_load_seconds"] is not None]
    assert {(row["users"], row["mode"]) for row in from_copy} == {
        ("heavy", "semantic"),
        ("heavy", "hybrid"),
    }
    # The copy ranks both legs: by meaning through its HNSW graph.
    assert all(set(row["vector_paths"]) == {"resident-ann"} for row in from_copy)
    assert "| 2,000 |" in memories_bench.markdown(result)


def test_the_ingest_stage_runs_on_the_embedded_default_at_a_tiny_scale():
    ingest = memories_ingest.measure(
        40,
        sentence=memories_bench.sentence,
        modes=["embedded"],
        redis_url="",
        workers=1,
        mem0=0,
        query_sample=20,
    )

    (run,) = ingest["runs"]
    assert run["mode"] == "embedded" and run["memories_per_second"] > 0
    assert run["model_texts_per_second"]["mean"] > 0 and run["ratio"] > 0
    assert ingest["queries_per_memory"]["total"] > 0
    assert "| embedded |" in memories_ingest.markdown(ingest)
