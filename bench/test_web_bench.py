"""A seconds-long smoke run of the web benchmark: it loads, renders the pages and the API's
answers, and reports. It asserts that the benchmark works, never how fast the pages are."""

import argparse

import pytest

from bench import web_bench

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_benchmark_runs_at_a_tiny_scale():
    args = argparse.Namespace(heavy=600, others=40, users=3, renders=2)

    result = web_bench.run(args)

    (run,) = result["runs"]
    assert set(run["ms"]) == {"list, first page", "list, deep pages", "search (hybrid)"}
    assert all(set(ms) == {"web", "api"} for ms in run["ms"].values())
    assert "| 600 | search (hybrid) |" in web_bench.markdown(result["runs"])
