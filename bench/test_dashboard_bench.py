"""A seconds-long smoke run of the dashboard benchmark: it loads, renders and reports. It
asserts that the benchmark works, never how fast the page is."""

import argparse

import pytest

from bench import dashboard_bench

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_benchmark_runs_at_a_tiny_scale():
    args = argparse.Namespace(rows=[500], users=5, renders=2)

    result = dashboard_bench.run(args)

    (run,) = result["runs"]
    assert run["rows"] == 500
    assert set(run["ms"]) == {"computed", "cached"}
    assert "| 500 | computed |" in dashboard_bench.markdown(result["runs"])
