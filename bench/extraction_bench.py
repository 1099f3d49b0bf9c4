"""Extraction benchmark: the time an extraction job spends outside the LLM (claim, candidate
search, decisions, writes), per job, over 1,000 scripted conversations; p50/p95.

    make bench-extraction
    python -m bench.extraction_bench --jobs 1000 --users 50 --memories 100

It runs against its own database (``engram_bench``, as the memories benchmark does), with the
fake OpenAI-compatible server answering at once with scripted JSON, and the configured kind of
embedder (``--embedder local`` by default: embedding the facts is part of the candidate search
being timed). Every user starts with ``--memories`` embedded memories. Every conversation gives
three facts, and the model decides UPDATE for the first (on the nearest stored memory), ADD for
the second and NONE for the third: each job claims, searches, asks twice and writes.

Time outside the LLM = wall time of ``extraction_job_run`` minus the time inside its LLM calls,
``llm.services.complete_for_user`` (the user's key, the request, recording the usage), which is
also what a job records as ``llm_ms``. A stricter figure subtracts only the HTTP exchange
(``LLMGateway.complete``), counting the call's own bookkeeping as outside. The memories a job
writes are embedded by the embedding task, not by the job: during the run tasks go to an
in-memory broker, and the embedding is done between jobs, untimed. Results: a JSON file in
bench/results/ and a markdown table on stdout. The machine's load average is recorded: on a
shared machine it moves every figure.
"""

import argparse
import contextlib
import json
import os
import random
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from bench.memories_bench import WORDS, bench_setup, machine, percentiles, reset
from bench.results_io import bench_write_results

WARM_UP = 20  # jobs run first and not counted
SUBJECTS = ["coffee", "tea", "Python", "Rust", "running", "piano", "Lisbon", "Berlin", "cats"]
VERBS = ["likes", "prefers", "avoids", "is learning", "works with", "plans a trip to"]


def fact(rng: random.Random, n: int) -> str:
    extra = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6)))
    return f"The user {rng.choice(VERBS)} {rng.choice(SUBJECTS)} ({extra} {n})."


def conversation(rng: random.Random) -> list[dict[str, str]]:
    def text(words: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."

    return [
        {"role": role, "content": text(rng.randint(20, 90))}
        for role in ("user", "assistant", "user", "assistant")
    ]


@contextlib.contextmanager
def queued_tasks() -> Iterator[None]:
    """Tasks go to an in-memory broker (as to Redis in production) instead of running inline."""
    from config.celery import app

    saved = app.conf.task_always_eager, app.conf.broker_url
    app.conf.update(task_always_eager=False, broker_url="memory://")
    try:
        yield
    finally:
        app.conf.update(task_always_eager=saved[0], broker_url=saved[1])


@contextlib.contextmanager
def llm_timers() -> Iterator[dict[str, float]]:
    """Seconds spent in the job's LLM calls (``call``: complete_for_user) and, within them, in
    the HTTP exchange (``http``: LLMGateway.complete), added up in the yielded dict."""
    from memories.extraction import planning
    from providers.llm.gateway import LLMGateway

    spent = {"call": 0.0, "http": 0.0}
    call, http = planning.complete_for_user, LLMGateway.complete

    def timed_call(**kwargs):
        started = time.perf_counter()
        try:
            return call(**kwargs)
        finally:
            spent["call"] += time.perf_counter() - started

    async def timed_http(self, **kwargs):
        started = time.perf_counter()
        try:
            return await http(self, **kwargs)
        finally:
            spent["http"] += time.perf_counter() - started

    planning.complete_for_user, LLMGateway.complete = timed_call, timed_http
    try:
        yield spent
    finally:
        planning.complete_for_user, LLMGateway.complete = call, http


@contextlib.contextmanager
def query_counter() -> Iterator[list[int]]:
    from django.db import connection

    count = [0]

    def counting(execute, sql, params, many, context):
        count[0] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(counting):
        yield count


def embed_pending() -> None:
    from memories import services
    from memories.models import EmbeddingStatus, Memory

    while ids := list(
        Memory.objects.filter(embedding_status=EmbeddingStatus.PENDING).values_list(
            "pk", flat=True
        )[:256]
    ):
        services.memories_embed(memory_ids=ids)


def seed(*, users: int, memories: int, rng: random.Random) -> list:
    from accounts.models import User
    from memories import services
    from memories.models import Source

    people = User.objects.bulk_create(
        User(email=f"extract{i}@example.com", password="!", auto_extract=False)
        for i in range(users)
    )
    for person in people:
        drafts = [
            services.MemoryDraft(content=fact(rng, n), source=Source.EXTRACTION)
            for n in range(memories)
        ]
        services.memories_bulk_create(user=person, drafts=drafts)
    embed_pending()
    return people


def script(fake, rng: random.Random, n: int) -> None:
    from testing.fake_openai import Reply

    facts = [fact(rng, n), fact(rng, n + 1), fact(rng, n + 2)]
    operations = [
        {"fact": 0, "event": "UPDATE", "memory_id": "0", "text": facts[0]},
        {"fact": 1, "event": "ADD", "text": facts[1]},
        {"fact": 2, "event": "NONE", "memory_id": "1"},
    ]
    fake.reset()
    fake.script(
        Reply(text=json.dumps({"facts": facts})),
        Reply(text=json.dumps({"operations": operations})),
    )


def cpu_seconds() -> float:
    """How fast Python runs here now: seconds for ``sum(range(10**7))`` (about 0.15 s on an
    idle modern x86 core). Every figure scales with it."""
    started = time.perf_counter()
    sum(range(10**7))
    return round(time.perf_counter() - started, 3)


def measure(fake, people: list, *, jobs: int, rng: random.Random) -> dict[str, Any]:
    from memories import extraction

    outside, strict, total, calls, queries = [], [], [], [], []
    events: dict[str, int] = {}
    failed = 0
    load_before, cpu_before = os.getloadavg(), cpu_seconds()
    with queued_tasks(), llm_timers() as spent:
        for n in range(jobs + WARM_UP):
            user = people[n % len(people)]
            job = extraction.extraction_job_create(user=user, messages=conversation(rng))
            script(fake, rng, n * 3)
            spent.update(call=0.0, http=0.0)
            with query_counter() as count:
                started = time.perf_counter()
                done = extraction.extraction_job_run(job_id=job.pk)
                elapsed = time.perf_counter() - started
            embed_pending()
            if done is None or done.status != "succeeded":
                failed += 1
                continue
            if n < WARM_UP:
                continue  # warm-up: the model, the connection, the caches
            total.append(elapsed * 1000)
            calls.append(spent["call"] * 1000)
            outside.append((elapsed - spent["call"]) * 1000)
            strict.append((elapsed - spent["http"]) * 1000)
            queries.append(count[0])
            for operation in done.operations:
                applied = operation["applied"] or operation["event"] == "NONE"
                key = operation["event"] + ("" if applied else " (not applied)")
                events[key] = events.get(key, 0) + 1
    return {
        "jobs": len(outside),
        "failed": failed,
        "outside_llm_ms": percentiles(outside),
        "outside_http_ms": percentiles(strict),
        "total_ms": percentiles(total),
        "in_llm_calls_ms": percentiles(calls),
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "cpu_seconds_before_after": [cpu_before, cpu_seconds()],
        "queries_per_job": round(statistics.mean(queries), 1) if queries else 0,
        "operations": dict(sorted(events.items())),
    }


def run(args: argparse.Namespace, *, fake=None) -> dict[str, Any]:
    """The benchmark on the current database; ``fake``: a started fake server that the
    settings already point at (the smoke test's), else one is started here."""
    from django.conf import settings

    settings.EMBEDDING_BACKEND = args.embedder
    rng = random.Random(3)
    with contextlib.ExitStack() as stack:
        if fake is None:
            fake = stack.enter_context(own_fake_server())
        reset()
        started = time.perf_counter()
        people = seed(users=args.users, memories=args.memories, rng=rng)
        seed_seconds = round(time.perf_counter() - started, 1)
        print(f"seeded {args.users} users x {args.memories} memories in {seed_seconds} s")
        result = measure(fake, people, jobs=args.jobs, rng=rng)
    return {
        "started_at": datetime.now(UTC).isoformat(),
        "machine": machine(),
        "embedder": args.embedder,
        "users": args.users,
        "memories_per_user": args.memories,
        "seed_seconds": seed_seconds,
        **result,
    }


@contextlib.contextmanager
def own_fake_server() -> Iterator[Any]:
    from django.conf import settings

    from testing.fake_openai import FakeOpenAI

    with FakeOpenAI() as fake:
        settings.LLM_PROVIDERS = {
            **settings.LLM_PROVIDERS,
            "openai": {
                **settings.LLM_PROVIDERS["openai"],
                "base_url": fake.base_url,
                "api_key": "sk-bench",
                "models": ["gpt-4o-mini"],
            },
        }
        yield fake


def markdown(result: dict) -> str:
    outside, strict = result["outside_llm_ms"], result["outside_http_ms"]
    total, inside = result["total_ms"], result["in_llm_calls_ms"]
    load = " → ".join(str(value) for value in result["load_average_before_after"])
    cpu = " → ".join(str(value) for value in result["cpu_seconds_before_after"])
    return "\n".join(
        [
            "| jobs | embedder | memories/user | outside LLM p50 ms | p95 ms | p99 ms | "
            "strict p50 / p95 ms | whole job p50 ms | LLM calls p50 ms | queries/job | load | "
            "CPU s |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
            f"| {result['jobs']:,} | {result['embedder']} | {result['memories_per_user']} | "
            f"{outside['p50']} | **{outside['p95']}** | {outside['p99']} | "
            f"{strict['p50']} / {strict['p95']} | {total['p50']} | {inside['p50']} | "
            f"{result['queries_per_job']} | {load} | {cpu} |",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--memories", type=int, default=100, help="stored per user at the start")
    parser.add_argument("--embedder", choices=["local", "hashing"], default="local")
    parser.add_argument("--database", default="engram_bench")
    args = parser.parse_args(argv)
    bench_setup(args.database)
    result = run(args)
    bench_write_results(
        "extraction",
        result,
        markdown(result),
        f"operations: {result['operations']}; failed jobs: {result['failed']}",
    )


if __name__ == "__main__":
    main()
