"""Tasks benchmark: listing a user's tasks due today at 100k tasks per user and 1M in all, beside
listing the same user's memories at the same scale, in the same run.

    make bench-tasks                                   # 10 users x 100k tasks and memories
    python -m bench.tasks_bench --users 10 --per-user 100000 --requests 200

It runs against its own database (``engram_bench_tasks`` on the configured server, created and
migrated on first use). Both tables are written with ``COPY``: ``users`` users, each with
``per_user`` tasks and ``per_user`` memories (1M of each by default). Tasks are due at random
instants from a year ago to a year ahead (one in five has no due date), 70% done, 20% to do, 10%
in progress: about 140 of a user's 100k are due on any day, some 40 of them still open.

Each request goes through the API view in process (DRF request, auth bypassed with
force_authenticate, selector, serialization), a page of 50, for a random user:

- ``tasks due today, open, by due time``: ``GET /api/v1/tasks?due_today=true&tz=Europe/Berlin
  &status=todo&status=in_progress&ordering=due_at`` (what a client shows for "today");
- ``tasks due today, newest first``: the same day, no status filter, the default ordering;
- ``memories, newest first``: ``GET /api/v1/memories`` (the memory list, the yardstick).

The query plans of the two task lists are kept in the JSON (``plans``).
"""

import argparse
import os
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.memories_bench import bench_setup, machine, percentiles, sentence
from bench.results_io import bench_write_results

ZONE = "Europe/Berlin"
PAGE = 50
BATCH = 50_000
STATUSES = ["done"] * 7 + ["todo"] * 2 + ["in_progress"]
LISTS = {
    "tasks due today, open, by due time": (
        "/api/v1/tasks",
        {
            "due_today": "true",
            "tz": ZONE,
            "status": ["todo", "in_progress"],
            "ordering": "due_at",
            "limit": PAGE,
        },
    ),
    "tasks due today, newest first": (
        "/api/v1/tasks",
        {"due_today": "true", "tz": ZONE, "limit": PAGE},
    ),
    "memories, newest first": ("/api/v1/memories", {"limit": PAGE}),
}


def reset() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE tasks_xpentry, tasks_comment, tasks_task, tasks_recurrencerule, "
            "tasks_project, memories_memory, accounts_user CASCADE"
        )


def load(*, users: int, per_user: int, seed: int = 7) -> dict[str, Any]:
    """``per_user`` tasks and ``per_user`` memories for each of ``users`` new users, by COPY."""
    import hashlib

    from django.db import connection

    from accounts.models import User

    rng = random.Random(seed)
    people = User.objects.bulk_create(
        User(email=f"tasks-bench{i}@example.com", password="!") for i in range(users)
    )
    now = datetime.now(UTC)
    year = 365 * 86_400
    started = time.perf_counter()
    connection.ensure_connection()
    raw = connection.connection
    with raw.cursor() as cursor:
        for user in people:
            for start in range(0, per_user, BATCH):
                n = min(BATCH, per_user - start)
                with cursor.copy(
                    "COPY tasks_task (id, user_id, title, description, status, priority, "
                    "difficulty, quest_type, experience_points, due_at, time_zone, "
                    "is_ai_suggested, is_approved, source, completions, completed_at, "
                    "created_at, updated_at) FROM STDIN"
                ) as copy:
                    for i in range(n):
                        created = now - timedelta(seconds=(n - i) * 60)
                        status = rng.choice(STATUSES)
                        due = (
                            now + timedelta(seconds=rng.uniform(-year, year))
                            if rng.random() < 0.8
                            else None
                        )
                        copy.write_row(
                            (uuid.uuid4(), user.pk, sentence(rng)[:300], "", status, "medium",
                             1, "side", 15, due, ZONE, False, True, "user",
                             1 if status == "done" else 0, created if status == "done" else None,
                             created, created)
                        )  # fmt: skip
            for start in range(0, per_user, BATCH):
                n = min(BATCH, per_user - start)
                with cursor.copy(
                    "COPY memories_memory (id, user_id, agent_id, session_id, conversation_id, "
                    "title, prompt, response, content, provider, source, source_url, tags, "
                    "importance, metadata, content_hash, size_bytes, embedding_status, "
                    "embedding_model, embedding_error, created_at, updated_at) FROM STDIN"
                ) as copy:
                    for i in range(n):
                        text = sentence(rng)
                        created = now - timedelta(seconds=(n - i) * 60)
                        copy.write_row(
                            (uuid.uuid4(), user.pk, "", "", "", "", "", "", text, "chatgpt",
                             "api", "", "{}", 0.5, "{}", hashlib.sha256(text.encode()).hexdigest(),
                             len(text), "ready", "", "", created, created)
                        )  # fmt: skip
    raw.commit()
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE tasks_task")
        cursor.execute("ANALYZE memories_memory")
    return {"users": people, "load_seconds": round(seconds, 1)}


def plan_of(user, params: dict[str, Any]) -> str:
    """PostgreSQL's plan (EXPLAIN ANALYZE) of the task list's page query for ``user``."""
    from django.db import connection

    from tasks import selectors
    from tasks.api.serializers import TaskListQuerySerializer

    query = TaskListQuerySerializer(data=params)
    query.is_valid(raise_exception=True)
    page_query = selectors.task_list(user=user, filters=query.to_filters())
    ordering = query.validated_data["ordering"]
    field, descending = selectors.TASK_ORDERINGS[ordering]
    order = [f"-{field}" if descending else field, "-pk" if descending else "pk"]
    if field == "due_at":
        page_query = page_query.filter(due_at__isnull=False)
    sql, sql_params = page_query.order_by(*order)[: PAGE + 1].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) {sql}", sql_params)
        return "\n".join(row[0] for row in cursor.fetchall())


def measure(users: list, *, requests: int) -> dict[str, Any]:
    from django.http import QueryDict
    from rest_framework.test import APIClient

    client = APIClient()
    rng = random.Random(11)
    latencies: dict[str, dict[str, float]] = {}
    found: dict[str, float] = {}
    for label, (url, params) in LISTS.items():
        query = QueryDict(mutable=True)
        for key, value in params.items():
            query.setlist(key, value if isinstance(value, list) else [value])
        samples, counts = [], []
        for i in range(requests + 5):
            client.force_authenticate(users[rng.randrange(len(users))])
            started = time.perf_counter()
            response = client.get(f"{url}?{query.urlencode()}")
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, response.content
            if i < 5:
                continue  # warm-up: the connection, the caches
            samples.append(elapsed)
            counts.append(len(response.json()["results"]))
        latencies[label] = percentiles(samples)
        found[label] = round(sum(counts) / len(counts), 1)
    plans = {
        label: plan_of(users[0], params)
        for label, (url, params) in LISTS.items()
        if url == "/api/v1/tasks"
    }
    return {"ms": latencies, "rows_per_page": found, "plans": plans}


def run(args: argparse.Namespace) -> dict[str, Any]:
    from django.conf import settings

    from tasks.models import Task

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]  # the in-process client
    settings.RATELIMIT_ENABLE = False  # thousands of requests a minute by a few users
    result: dict[str, Any] = {"started_at": datetime.now(UTC).isoformat(), "machine": machine()}
    total = args.users * args.per_user
    from accounts.models import User

    # A database left by a previous run at this size is measured again as it is.
    if Task.objects.count() != total:
        reset()
        print(f"loading {total:,} tasks and {total:,} memories ...", flush=True)
        data = load(users=args.users, per_user=args.per_user)
        users, result["load_seconds"] = data["users"], data["load_seconds"]
    else:
        users = list(User.objects.filter(email__startswith="tasks-bench"))
    measured = measure(users, requests=args.requests)
    result["runs"] = [
        {
            "tasks": total,
            "memories": total,
            "per_user": args.per_user,
            "requests": args.requests,
            **measured,
            "load": os.getloadavg(),
        }
    ]
    print(markdown(result["runs"]), flush=True)
    return result


def markdown(runs: list[dict]) -> str:
    lines = [
        "| rows in all | per user | list (page of 50) | rows on the page | p50 ms | p95 ms | "
        "p99 ms | load |",
        "|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        for label, ms in run["ms"].items():
            lines.append(
                f"| {run['tasks']:,} | {run['per_user']:,} | {label} | "
                f"{run['rows_per_page'][label]} | {ms['p50']:.1f} | **{ms['p95']:.1f}** | "
                f"{ms['p99']:.1f} | {run['load'][0]:.2f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--per-user", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database", default="engram_bench_tasks")
    args = parser.parse_args(argv)
    bench_setup(args.database)
    result = run(args)
    bench_write_results("tasks", result, markdown(result["runs"]))


if __name__ == "__main__":
    main()
