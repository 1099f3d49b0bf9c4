"""Prometheus metrics of LLM calls, by provider (summed over processes like every other metric;
see core/metrics.py). Kept here because providers import nothing of the rest of Engram."""

import time

from prometheus_client import Counter, Histogram

from providers.llm.types import Usage

LLM_CALLS = Counter(
    "engram_llm_calls", "LLM calls finished, by provider and outcome.", ["provider", "outcome"]
)
LLM_TOKENS = Counter("engram_llm_tokens", "LLM tokens, by provider.", ["provider", "kind"])
LLM_LATENCY = Histogram(
    "engram_llm_call_duration_seconds",
    "LLM call time, retries included (a stream: until its last token).",
    ["provider", "mode"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)


def record_call(
    *, provider: str, mode: str, started: float, usage: Usage | None, outcome: str = "ok"
) -> None:
    """Count one call that ended with ``outcome`` (``ok`` or an error code) ``started`` being
    its ``time.perf_counter()`` at the start."""
    LLM_CALLS.labels(provider=provider, outcome=outcome).inc()
    LLM_LATENCY.labels(provider=provider, mode=mode).observe(time.perf_counter() - started)
    if usage is not None:
        LLM_TOKENS.labels(provider=provider, kind="prompt").inc(usage.prompt_tokens)
        LLM_TOKENS.labels(provider=provider, kind="completion").inc(usage.completion_tokens)
