"""A seconds-long smoke run of the tasks benchmark: it loads, lists and reports. It asserts that
the benchmark works, never how fast the lists are."""

import argparse

import pytest

from bench import tasks_bench

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_benchmark_runs_at_a_tiny_scale():
    args = argparse.Namespace(users=2, per_user=300, requests=3)

    result = tasks_bench.run(args)

    (run,) = result["runs"]
    assert run["tasks"] == 600 and set(run["ms"]) == set(tasks_bench.LISTS)
    assert run["rows_per_page"]["memories, newest first"] == 50
    assert "Index" in run["plans"]["tasks due today, open, by due time"]
    assert "| 600 | 300 | tasks due today, newest first |" in tasks_bench.markdown(result["runs"])
