"""A seconds-long smoke run of the upstream reader benchmark: both paths read whole answers.
It asserts that the benchmark works, never how fast anything is."""

import argparse

from bench import chat_reader_bench
from testing.fake_openai import Reply


def test_the_reader_benchmark_runs_at_a_tiny_scale(fake_openai):
    fake_openai.default_reply = Reply(tokens=[" tok"] * 5, delay=0.001)

    rows = chat_reader_bench.run(argparse.Namespace(streams=3), fake_openai.base_url)

    assert [row["path"] for row in rows] == ["sdk", "ours", "sdk", "ours"]
    assert all(row["tokens"] == 15 and row["cpu_us_per_token"] > 0 for row in rows)
