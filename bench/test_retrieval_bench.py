"""A seconds-long smoke run of the retrieval benchmark: it loads a tiny set, tunes, reports
every system on every question type and times the endpoint over HTTP. It asserts that the
benchmark works and is deterministic, never how good or fast search is (the test embedder is not
the real one)."""

import argparse

import pytest

from bench import retrieval_bench
from bench.retrieval_data import conversation

pytestmark = pytest.mark.django_db(transaction=True)  # the search server reads the rows


def test_the_set_is_deterministic_and_has_every_question_type():
    first, again = conversation(3, 120), conversation(3, 120)

    assert first == again
    assert len(first.turns) == 120
    kinds = {question.kind for question in first.questions}
    assert kinds == {"wrong_person", "spread", "paraphrase", "rare_word", "unrelated"}
    for question in first.questions:  # evidence names turns that say the fact
        assert all(0 <= i < 120 for i in question.evidence)


def test_rrf_breaks_equal_sums_by_rank_not_by_id():
    # "y" and "x" swap places across the legs: equal sums, equal best ranks, the semantic
    # leg's order decides. "z" first in the semantic leg only, "w" in the keyword leg only:
    # equal sums and best ranks again. Ids in the other order throughout.
    semantic = [("z",), ("y",), ("x",)]
    keyword = [("w",), ("x",), ("y",)]

    assert retrieval_bench.rrf(semantic, keyword, depth=10) == ["y", "x", "z", "w"]


def test_the_benchmark_runs_at_a_tiny_scale():
    args = argparse.Namespace(
        conversations=2, turns=60, latency_rows=[150], latency_queries=3, keep_settings=False
    )

    result = retrieval_bench.run(args)

    assert result["code"] == "after" and result["memories"] == 120
    assert set(result["report"]) == {"semantic", "keyword", "hybrid", "bm25", "rrf"}
    for system in result["report"].values():
        assert set(system) == {*retrieval_bench.KINDS, "all"}
    assert result["tuning"]["best"]["weight"] in retrieval_bench.WEIGHTS
    assert 0 <= result["tuning"]["floor"]["value"] <= 1
    (latency,) = result["latency"]["users"]
    assert latency["rows"] == 150 and latency["vector_paths"] == {"exact": 3}
    assert latency["recall_at_10"] == 1.0
    assert latency["baseline"]["http_floor"]["p50"] > 0  # bench/search_floor.py answered
    assert "| hybrid | wrong_person |" in retrieval_bench.markdown(result)
