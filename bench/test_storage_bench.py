"""A seconds-long smoke run of the storage benchmark on both backends. It asserts that the
benchmark works, never how fast anything is."""

import argparse

import pytest

from bench import storage_bench

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.heavy(20)]


def test_the_benchmark_runs_at_a_tiny_scale(tmp_path):
    args = argparse.Namespace(sizes_mb=[2], backends=["filesystem", "s3"], workdir=tmp_path)

    result = storage_bench.run(args)

    assert [(row["backend"], row["size_mb"]) for row in result["rows"]] == [
        ("filesystem", 2),
        ("s3", 2),
    ]
    for row in result["rows"]:
        assert row["bytes"] > 2 * storage_bench.MB  # ciphertext: header and tags added
        assert row["upload_mb_s"] > 0 and row["download_mb_s"] > 0
        assert row["rss_peak_upload_kb"] >= row["rss_before_kb"] > 0
    assert "| s3 | 2 MB |" in storage_bench.markdown(result)
