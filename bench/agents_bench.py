"""Agents benchmark: the time the orchestration adds to a turn outside the model, and the local
router's accuracy and latency.

    make bench-agents
    python -m bench.agents_bench --turns 200 --embedder local

Overhead: a direct turn to the tasks agent (named in the request, so no routing) in which the
model calls three tools (list_tasks_due_today, update_task, add_task_comment) and then answers:
four model calls to the fake OpenAI-compatible server, in this process. Measured as the view
runs it: prepare (persona, tier, model and key, the user's memories recalled with the configured
embedder from ``--memories`` stored ones, a run row), orchestrate (the tool loop, schema checks,
sanitizer), finish (the run's record, usage). Overhead = the whole turn minus the time inside
the four model calls (``LoopState.llm_ms``, HTTP to the fake included). Each turn is checked:
three tools called, two actions.

Router: every message of ``bench/agents_router_set.tsv`` (agent<TAB>message, at least 200,
written from the agents' descriptions) routed by the local router; accuracy, the confusions,
and the latency of one route (one embedding and the dot products). Results: a JSON file in
bench/results/ and a markdown table on stdout.
"""

import argparse
import os
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.extraction_bench import cpu_seconds, embed_pending, own_fake_server, query_counter
from bench.memories_bench import bench_setup, percentiles, reset
from bench.results_io import bench_write_results

ROUTER_SET = Path(__file__).resolve().parent / "agents_router_set.tsv"
WARM_UP = 5
CONTEXT = {
    "user_profile": {"timezone": "UTC"},
    "recent_tasks": [
        {
            "id": f"t-{n}",
            "title": f"Task number {n}",
            "status": "todo",
            "priority": "medium",
            "due_date": int(time.time() * 1000),
            "comments": [{"id": f"c-{n}", "author": "Ada", "content": "On it."}],
        }
        for n in range(50)
    ],
    "projects": [{"id": f"p-{n}", "name": f"Project {n}", "status": "active"} for n in range(10)],
    "conversation_history": [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hi!"},
    ],
}


def router_set() -> list[tuple[str, str]]:
    rows = []
    for line in ROUTER_SET.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            label, message = line.split("\t", 1)
            rows.append((label, message))
    return rows


def measure_router(rows: list[tuple[str, str]]) -> dict[str, Any]:
    from agents.registry import registry
    from agents.router import local_router

    agents = registry.all()
    local_router.route("warm up", agents)  # loads the model and the agents' centroids
    latencies, confusions, correct = [], Counter(), 0
    for label, message in rows:
        started = time.perf_counter()
        route = local_router.route(message, agents)
        latencies.append((time.perf_counter() - started) * 1000)
        if route.agent == label:
            correct += 1
        else:
            confusions[f"{label}→{route.agent}"] += 1
    return {
        "messages": len(rows),
        "accuracy": round(correct / len(rows), 4),
        "latency_ms": percentiles(latencies),
        "confusions": dict(confusions.most_common()),
    }


def seed(memories: int):
    from accounts.models import User
    from billing.tiers import Tier
    from memories.services import MemoryDraft, memory_create

    user = User.objects.create_user(email="agentsbench@example.com", password="x", tier=Tier.PRO)
    for n in range(memories):
        memory_create(user=user, draft=MemoryDraft(content=f"Fact {n}: I like task lists, {n}."))
    embed_pending()
    return user


def script_turn(fake) -> None:
    from testing.fake_openai import Reply

    fake.script(
        Reply.tool_call("list_tasks_due_today", {}),
        Reply.tool_call("update_task", {"task_id": "t-1", "status": "done"}),
        Reply.tool_call("add_task_comment", {"task_id": "t-2", "content": "Started."}),
        Reply(text="Closed t-1 and noted progress on t-2."),
    )


def measure_turns(fake, user, turns: int) -> dict[str, Any]:
    from asgiref.sync import async_to_sync

    from agents import services
    from agents.loop import LoopState
    from agents.orchestrator import orchestrate

    request = services.TurnRequest(message="close what is due", context=CONTEXT, agents=("tasks",))
    overhead, total, in_model, queries, failed = [], [], [], [], 0
    load_before, cpu_before = os.getloadavg(), cpu_seconds()
    for n in range(turns + WARM_UP):
        script_turn(fake)
        with query_counter() as count:
            state, started = LoopState(), time.perf_counter()
            turn = services.agent_turn_prepare(user=user, request=request)
            result = async_to_sync(orchestrate)(turn, state)
            services.agent_turn_finish(turn=turn, started=started, state=state, result=result)
            elapsed = (time.perf_counter() - started) * 1000
        if len(state.tools_called) != 3 or len(result.actions) != 2:
            failed += 1
            continue
        if n >= WARM_UP:
            total.append(elapsed)
            in_model.append(state.llm_ms)
            overhead.append(elapsed - state.llm_ms)
            queries.append(count[0])
    return {
        "turns": len(overhead),
        "failed": failed,
        "overhead_ms": percentiles(overhead),
        "total_ms": percentiles(total),
        "in_model_calls_ms": percentiles(in_model),
        "queries_per_turn": max(queries, default=0),
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "cpu_seconds_before_after": [cpu_before, cpu_seconds()],
    }


def run(args: argparse.Namespace, *, fake=None) -> dict[str, Any]:
    """The benchmark on the current database; ``fake``: a started fake server the settings
    already point at (the smoke test's), else one is started here."""
    import contextlib

    from django.conf import settings

    settings.EMBEDDING_BACKEND = args.embedder
    settings.RATELIMIT_ENABLE = False
    rows = router_set()[: args.messages or None]
    with contextlib.ExitStack() as stack:
        if fake is None:
            fake = stack.enter_context(own_fake_server())
        reset()
        user = seed(args.memories)
        turns = measure_turns(fake, user, args.turns)
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "embedder": args.embedder,
        "memories": args.memories,
        **turns,
        "router": measure_router(rows),
    }


def markdown(result: dict[str, Any]) -> str:
    overhead, router = result["overhead_ms"], result["router"]
    load = " → ".join(str(v) for v in result["load_average_before_after"])
    return "\n".join(
        [
            "| turns | embedder | overhead p50 ms | p95 ms | whole turn p50 ms | in model p50 ms "
            "| queries/turn | router messages | accuracy | route p50 ms | p95 ms | load |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
            f"| {result['turns']} | {result['embedder']} | {overhead['p50']} | "
            f"**{overhead['p95']}** | {result['total_ms']['p50']} | "
            f"{result['in_model_calls_ms']['p50']} | {result['queries_per_turn']} | "
            f"{router['messages']} | "
            f"**{router['accuracy']}** | {router['latency_ms']['p50']} | "
            f"**{router['latency_ms']['p95']}** | {load} |",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--memories", type=int, default=100, help="stored for the user")
    parser.add_argument("--messages", type=int, default=0, help="router set size (0: all)")
    parser.add_argument("--embedder", choices=["local", "hashing"], default="local")
    parser.add_argument("--database", default="engram_bench")
    args = parser.parse_args(argv)
    bench_setup(args.database)
    result = run(args)
    bench_write_results(
        "agents",
        result,
        markdown(result),
        f"router confusions: {result['router']['confusions']}; failed turns: {result['failed']}",
    )


if __name__ == "__main__":
    main()
