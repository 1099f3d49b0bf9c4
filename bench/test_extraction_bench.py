"""A seconds-long smoke run of the extraction benchmark: it seeds, runs scripted jobs through
the fake server and reports. It asserts that the benchmark works, never how fast it is."""

import argparse

import pytest

from bench import extraction_bench
from config.celery import app

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_benchmark_runs_at_a_tiny_scale(llm_upstream):
    args = argparse.Namespace(jobs=6, users=2, memories=8, embedder="hashing")

    result = extraction_bench.run(args, fake=llm_upstream)

    assert result["jobs"] == 6 and result["failed"] == 0
    assert result["operations"].get("ADD") == 6 and result["operations"].get("NONE") == 6
    assert result["outside_llm_ms"]["p95"] > 0 and result["queries_per_job"] > 0
    assert "| 6 | hashing | 8 |" in extraction_bench.markdown(result)
    assert app.conf.task_always_eager  # tasks run inline again after the run
