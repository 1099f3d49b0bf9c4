"""A seconds-long smoke run of the chat benchmark against a live server: a few short streams
over each transport. It asserts that the benchmark works, never how fast anything is."""

import argparse

import pytest

from bench import chat_bench
from testing.fake_openai import Reply
from testing.fixtures import SERVER_KEY
from testing.live import live_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.heavy(35)]


@pytest.mark.parametrize("cold", [False, True], ids=["warmed-up", "cold"])
def test_the_benchmark_runs_at_a_tiny_scale(llm_upstream, tmp_path, cold):
    args = argparse.Namespace(
        levels=[1, 3], transports=["direct", "sse", "ws"], turns=2, users=2, memories=3,
        embedder="hashing", tokens=6, delay=0.005, first_token_delay=0.01, cold=cold,
    )  # fmt: skip
    llm_upstream.default_reply = Reply(
        tokens=[" tok"] * args.tokens, delay=args.delay, first_token_delay=args.first_token_delay
    )
    env = {
        "OPENAI_BASE_URL": llm_upstream.base_url,
        "OPENAI_API_KEY": SERVER_KEY,
        "EMBEDDING_BACKEND": "hashing",
        "LOG_LEVEL": "WARNING",
    }
    with live_server(env, tmp_path / "server.log", workers=2) as server:
        assert len(chat_bench.process_tree(server.pid)) >= 3  # the supervisor and two workers
        target = chat_bench.Target(
            url=server.url,
            upstream=llm_upstream.base_url,
            pid=server.pid,
            tokens=args.tokens,
            first_token_delay=args.first_token_delay,
            delay=args.delay,
            workers=2,
        )
        result = chat_bench.run(args, target=target)

    rows = {(row["transport"], row["streams"]): row for row in result["rows"]}
    assert set(rows) == {(t, n) for t in args.transports for n in args.levels}
    for row in rows.values():
        assert row["turns"] >= 1 and row["errors"] == 0, row
        assert row["ttft_ms"]["p50"] > 0
        assert row["server_cpu_us_per_token"] >= 0 and row["server_processes"] == 2
    assert rows[("sse", 3)]["rss_peak_kb"] > 0
    assert "| ws | 3 |" in chat_bench.markdown(result)
