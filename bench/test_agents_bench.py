"""A seconds-long smoke run of the agents benchmark: scripted turns through the real loop and a
slice of the router set. It asserts that the benchmark works, never how fast it is."""

import argparse

import pytest

from bench import agents_bench

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_labelled_set_is_large_and_covers_every_agent():
    from agents.registry import registry

    rows = agents_bench.router_set()

    assert len(rows) >= 200
    assert {label for label, _ in rows} == set(registry.names)


def test_the_benchmark_runs_at_a_tiny_scale(llm_upstream):
    args = argparse.Namespace(turns=3, memories=5, messages=10, embedder="hashing")

    result = agents_bench.run(args, fake=llm_upstream)

    assert result["turns"] == 3 and result["failed"] == 0
    assert result["overhead_ms"]["p95"] > 0 and result["in_model_calls_ms"]["p50"] > 0
    assert result["router"]["messages"] == 10 and 0 <= result["router"]["accuracy"] <= 1
    assert "| 3 | hashing |" in agents_bench.markdown(result)
