"""Dashboard benchmark: how long the operators' dashboard (`/admin/`) takes to render at 100k and
1M memories, with its numbers computed (cache empty) and reused (within DASHBOARD_CACHE_SECONDS).

    make bench-dashboard                                  # 100k and 1M rows
    python -m bench.dashboard_bench --rows 100000 --renders 20

Uses the memories benchmark's database (``engram_bench``) and corpus loader: 1,000 users, one
heavy. Each render is a full request through Django's test client (middleware, the admin's
session and permission checks, the template), timed from request to response.
"""

import argparse
import os
import time
from datetime import UTC, datetime
from typing import Any

from bench.memories_bench import bench_setup, load, machine, percentiles, reset
from bench.results_io import bench_write_results


def measure(renders: int) -> dict[str, dict[str, float]]:
    from django.core.cache import cache
    from django.test import Client

    from accounts.models import User

    operator, _ = User.objects.get_or_create(
        email="operator@example.com", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(operator)
    timings: dict[str, list[float]] = {"computed": [], "cached": []}
    for kind in ("computed", "cached"):
        for _ in range(renders):
            if kind == "computed":
                cache.clear()
            started = time.perf_counter()
            response = client.get("/admin/")
            timings[kind].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.status_code
    return {kind: percentiles(samples) for kind, samples in timings.items()}


def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"started_at": datetime.now(UTC).isoformat(), "runs": []}
    result["machine"] = machine()
    from memories.models import Memory

    for rows in args.rows:
        # A database left by the previous run at this size is measured again as it is.
        if Memory.objects.count() != rows:
            reset()
            print(f"loading {rows:,} rows ...", flush=True)
            load(rows, users=args.users, heavy=min(100_000, rows // 10))
        timings = measure(args.renders)
        result["runs"].append(
            {"rows": rows, "renders": args.renders, "ms": timings, "load": os.getloadavg()}
        )
        print(markdown(result["runs"][-1:]), flush=True)
    return result


def markdown(runs: list[dict]) -> str:
    lines = [
        "| memories | numbers | p50 ms | p95 ms | p99 ms |",
        "|---:|---|---:|---:|---:|",
    ]
    for run in runs:
        for kind, ms in run["ms"].items():
            lines.append(
                f"| {run['rows']:,} | {kind} | {ms['p50']:.0f} | {ms['p95']:.0f} | "
                f"{ms['p99']:.0f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--renders", type=int, default=20)
    parser.add_argument("--database", default="engram_bench")
    args = parser.parse_args(argv)
    bench_setup(args.database)
    result = run(args)
    bench_write_results("dashboard", result, markdown(result["runs"]))


if __name__ == "__main__":
    main()
