"""The ingest half of the memories benchmark: memories/s from the first bulk POST until every
memory is searchable (``ready``), against the local model's own throughput measured in the same
run, the queries each memory costs, and mem0's in-process ingest of the same texts.

- **Ingest** (method of wave 1): ``count`` memories POSTed through /api/v1/memories/bulk, 500 a
  request, in process; embedded either by a real Celery worker on Redis (``--concurrency
  workers``) or, on the embedded default, by the in-process background executor of this
  process (no broker). Time from the first POST until every memory is ``ready``.
- **The model's raw throughput**: ``workers`` processes each embed their share of the same
  texts (the first MODEL_SAMPLE) with the local model (``Embedder.embed`` in
  EMBEDDING_BATCH_SIZE calls, one thread each), nothing else; measured just before and just
  after each ingest (the machine is shared: the ratio to the mean of the two is the figure
  that counts).
- **Queries per memory**: 1,000 memories (``query_sample``) posted and embedded inline (tasks
  in the request), every query on the connection counted; the web part alone is counted with
  the tasks on the background threads.
- **mem0**: ``mem0.Memory.add(..., infer=False)`` in process (qdrant local, its SQLite history)
  with the same local model as its embedder: mem0's own pipeline, not its default model.
"""

import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

import redis

from bench.results_io import REPO, RESULTS

BULK_REQUEST_SIZE = 500
# Texts the model's raw throughput is measured on (the first of the ingest's): its rate does not
# depend on how many there are, and measuring it twice per run on 10k texts would double the run.
MODEL_SAMPLE = 2000


def ingest_texts(count: int, sentence) -> list[str]:
    """The texts of wave 1's ingest: the same seed, so runs compare."""
    rng = random.Random(5)
    return [f"{sentence(rng)} {i}" for i in range(count)]


# --- The model alone -------------------------------------------------------------------------


def _embed_share(texts: list[str], batch: int, ready, queue) -> None:
    sys.path.insert(0, str(REPO))
    from providers.embeddings import build_embedder

    embedder = build_embedder("local", dimensions=384, threads=1)
    embedder.embed(texts[:16])  # the first run allocates onnxruntime's buffers
    ready.wait()
    started = time.perf_counter()
    for start in range(0, len(texts), batch):
        embedder.embed(texts[start : start + batch])
    queue.put((started, time.perf_counter()))


def model_throughput(texts: list[str], *, processes: int, batch: int) -> float:
    """Texts per second the local model embeds in ``processes`` processes of one thread each,
    from when all have loaded it until the last is done."""
    context = multiprocessing.get_context("spawn")
    ready, queue = context.Barrier(processes), context.Queue()
    shares = [texts[i::processes] for i in range(processes)]
    workers = [
        context.Process(target=_embed_share, args=(share, batch, ready, queue)) for share in shares
    ]
    for worker in workers:
        worker.start()
    spans = [queue.get(timeout=1800) for _ in workers]
    for worker in workers:
        worker.join()
    elapsed = max(end for _, end in spans) - min(start for start, _ in spans)
    return round(len(texts) / elapsed, 1)


# --- Ingest through the API ------------------------------------------------------------------


def _post(texts: list[str]) -> tuple[Any, list[str], float]:
    """POST ``texts`` in bulk requests as a new user: the user, the ids acknowledged, and the
    seconds until the last POST was answered."""
    from rest_framework.test import APIClient

    from accounts.models import User
    from billing.tiers import Tier

    # The team tier: no memory count limit to stop 10k memories.
    user = User.objects.create(email=f"ingest-{uuid.uuid4().hex[:6]}@example.com", tier=Tier.TEAM)
    client = APIClient()
    client.force_authenticate(user)
    started = time.perf_counter()
    acknowledged = []
    for start in range(0, len(texts), BULK_REQUEST_SIZE):
        items = [{"content": text} for text in texts[start : start + BULK_REQUEST_SIZE]]
        response = client.post("/api/v1/memories/bulk", {"memories": items}, format="json")
        assert response.status_code == 201, response.content
        acknowledged += [item["id"] for item in response.json()["results"]]
    return user, acknowledged, time.perf_counter() - started


def _wait_ready(user, acknowledged: list[str], *, alive) -> None:
    """Until every memory of ``user`` is ``ready``; then nothing acknowledged may be missing."""
    from memories.models import EmbeddingStatus, Memory

    waiting = Memory.objects.filter(user=user).exclude(embedding_status=EmbeddingStatus.READY)
    while waiting.exists():
        alive()
        time.sleep(0.1)
    ready = Memory.objects.filter(pk__in=acknowledged, embedding_status=EmbeddingStatus.READY)
    assert ready.count() == len(set(acknowledged)) == len(acknowledged)


def _post_and_wait(texts: list[str], *, alive) -> tuple[float, float]:
    """Seconds from the first POST until the last was answered, and until all were ``ready``."""
    started = time.perf_counter()
    user, acknowledged, posted = _post(texts)
    _wait_ready(user, acknowledged, alive=alive)
    return posted, time.perf_counter() - started


def ingest_on_redis(texts: list[str], *, redis_url: str, workers: int) -> tuple[float, float]:
    """Ingest with a real Celery worker (``workers`` processes) on Redis."""
    from urllib.parse import urlsplit

    from django.conf import settings
    from django.db import connection

    from config.celery import sending_to

    queue = f"engram-bench-{uuid.uuid4().hex[:8]}"
    name = connection.settings_dict["NAME"]
    database_url = urlsplit(settings.DATABASE_URL)._replace(path="/" + name).geturl()
    log = open(RESULTS / "ingest-worker.log", "w")  # noqa: SIM115 (closed in finally)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queue,
         "--concurrency", str(workers), "--without-gossip", "--without-mingle",
         "--loglevel", "WARNING"],
        cwd=REPO,
        env={**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
             "EMBEDDING_BACKEND": "local", "EMBEDDING_LOCAL_THREADS": "1"},
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip

    def alive() -> None:
        if worker.poll() is not None:
            raise RuntimeError("the worker exited; see bench/results/ingest-worker.log")

    try:
        with sending_to(redis_url, queue=queue):
            time.sleep(8)  # the worker imports Django and loads the model before it takes work
            posted, elapsed = _post_and_wait(texts, alive=alive)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        log.close()
        leftovers = redis.Redis.from_url(redis_url)
        leftovers.delete(queue, *leftovers.keys(f"_kombu.binding*{queue}"))
        leftovers.close()
    return posted, elapsed


def ingest_embedded(texts: list[str]) -> tuple[float, float]:
    """Ingest on the embedded default: no broker, this process's background executor embeds."""
    from django.conf import settings

    from config.celery import app, in_process_tasks
    from providers.embeddings import get_embedder

    previous = app.conf.task_always_eager, settings.TASKS_IN_BACKGROUND
    app.conf.task_always_eager, settings.TASKS_IN_BACKGROUND = True, True
    get_embedder().embed(texts[:16])  # loaded, as in a server that has answered a search
    try:
        posted, elapsed = _post_and_wait(texts, alive=lambda: None)
    finally:
        in_process_tasks.drain(timeout=600)
        app.conf.task_always_eager, settings.TASKS_IN_BACKGROUND = previous
    return posted, elapsed


def queries_per_memory(texts: list[str]) -> dict[str, float]:
    """Queries per memory of ingest (the bulk POSTs and their embedding tasks), counted in
    process on 1,000 memories: all of them with tasks inline, and the web part alone."""
    from django.conf import settings
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from config.celery import app, in_process_tasks

    previous = app.conf.task_always_eager, settings.TASKS_IN_BACKGROUND
    app.conf.task_always_eager = True
    counts = {}
    try:
        for label, background in (("web", True), ("total", False)):
            settings.TASKS_IN_BACKGROUND = background
            with CaptureQueriesContext(connection) as queries:
                user, acknowledged, _ = _post(texts)
            in_process_tasks.drain(timeout=600)
            _wait_ready(user, acknowledged, alive=lambda: None)
            counts[label] = round(len(queries) / len(texts), 3)
    finally:
        app.conf.task_always_eager, settings.TASKS_IN_BACKGROUND = previous
    return {"web": counts["web"], "tasks": round(counts["total"] - counts["web"], 3),
            "total": counts["total"]}  # fmt: skip


# --- mem0 ------------------------------------------------------------------------------------


def mem0_rate(texts: list[str]) -> float | None:
    """Memories/s of mem0's in-process ``add(infer=False)`` with the same local model, or None
    when mem0 is not installed (requirements-mem0.txt)."""
    os.environ.setdefault("MEM0_TELEMETRY", "False")
    try:
        from mem0 import Memory
        from mem0.embeddings.base import EmbeddingBase
        from mem0.utils.factory import EmbedderFactory
    except ImportError:
        return None
    from providers.embeddings import build_embedder

    model = build_embedder("local", dimensions=384, threads=1)

    class LocalModel(EmbeddingBase):
        def embed(self, text, memory_action=None):
            return model.embed([text])[0].tolist()

    # mem0's config accepts only its own provider names; "huggingface" (sentence-transformers,
    # not installed) is swapped for the same local model Engram runs.
    globals()["Mem0LocalModel"] = LocalModel
    EmbedderFactory.provider_to_class["huggingface"] = f"{__name__}.Mem0LocalModel"
    with tempfile.TemporaryDirectory() as folder:
        memory = Memory.from_config(
            {
                "embedder": {"provider": "huggingface", "config": {"embedding_dims": 384}},
                "vector_store": {
                    "provider": "qdrant",
                    "config": {
                        "collection_name": "bench",
                        "embedding_model_dims": 384,
                        "path": f"{folder}/qdrant",
                        "on_disk": False,
                    },
                },
                # Never called with infer=False; mem0 builds a client at start.
                "llm": {"provider": "openai", "config": {"api_key": "unused"}},
                "history_db_path": f"{folder}/history.db",
            }
        )
        started = time.perf_counter()
        for start in range(0, len(texts), BULK_REQUEST_SIZE):
            part = texts[start : start + BULK_REQUEST_SIZE]
            memory.add([{"role": "user", "content": t} for t in part], user_id="bench", infer=False)
        elapsed = time.perf_counter() - started
        memory.vector_store.client.close()
    return round(len(texts) / elapsed, 1)


# --- The stage -------------------------------------------------------------------------------


def measure(
    count: int,
    *,
    sentence,
    modes: list[str],
    redis_url: str,
    workers: int,
    mem0: int,
    query_sample: int = 1000,
) -> dict[str, Any]:
    """Every part of the ingest stage (see the module docstring); queries per memory are
    counted on ``query_sample`` memories."""
    from django.conf import settings

    texts = ingest_texts(count, sentence)
    batch = settings.EMBEDDING_BATCH_SIZE
    result: dict[str, Any] = {
        "memories": count,
        "bulk_request_size": BULK_REQUEST_SIZE,
        "worker_processes": workers,
        "embedding_batch_size": batch,
        "in_process_task_threads": settings.TASKS_IN_PROCESS_THREADS,
        "mean_words": round(statistics.mean(len(t.split()) for t in texts), 1),
        "queries_per_memory": queries_per_memory(ingest_texts(query_sample, sentence)),
        "runs": [],
    }
    for mode in modes:
        before = model_throughput(texts[:MODEL_SAMPLE], processes=workers, batch=batch)
        load_before = os.getloadavg()
        if mode == "redis":
            posted, elapsed = ingest_on_redis(texts, redis_url=redis_url, workers=workers)
        else:
            posted, elapsed = ingest_embedded(texts)
        load_after = os.getloadavg()
        after = model_throughput(texts[:MODEL_SAMPLE], processes=workers, batch=batch)
        rate = round(count / elapsed, 1)
        model = round((before + after) / 2, 1)
        result["runs"].append(
            {
                "mode": mode,
                "post_seconds": round(posted, 1),
                "seconds_to_all_ready": round(elapsed, 1),
                "memories_per_second": rate,
                "model_texts_per_second": {"before": before, "after": after, "mean": model},
                "ratio": round(rate / model, 3),
                "load_average": {"before": load_before, "after": load_after},
            }
        )
        print(markdown(result), flush=True)
    if mem0:
        rate = mem0_rate(texts[:mem0])
        result["mem0"] = {"memories": min(mem0, count), "memories_per_second": rate}
    return result


def markdown(ingest: dict) -> str:
    queries = ingest["queries_per_memory"]
    lines = [
        f"Ingest: {ingest['memories']:,} memories (mean {ingest['mean_words']} words) through "
        f"POST /memories/bulk ({ingest['bulk_request_size']} a request) until all are `ready`; "
        f"{ingest['worker_processes']} processes of the model; queries per memory: "
        f"{queries['total']} ({queries['web']} web, {queries['tasks']} tasks).",
        "",
        "| mode | POSTs done s | all ready s | memories/s | model texts/s (before, after) "
        "| ratio | load average |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in ingest["runs"]:
        model = run["model_texts_per_second"]
        load = run["load_average"]
        lines.append(
            f"| {run['mode']} | {run['post_seconds']} | {run['seconds_to_all_ready']} | "
            f"**{run['memories_per_second']}** | {model['mean']} ({model['before']}, "
            f"{model['after']}) | **{run['ratio']}** | {load['before'][0]:.1f} → "
            f"{load['after'][0]:.1f} |"
        )
    if mem0 := ingest.get("mem0"):
        lines.append(
            f"\nmem0 in process (`add(infer=False)`, the same model), {mem0['memories']:,} "
            f"memories: **{mem0['memories_per_second']} memories/s**."
        )
    return "\n".join(lines)
