"""End to end through a real Celery worker process on Redis, with the real local model:
POST a memory, the worker embeds it, semantic search finds it by meaning."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis

from config.celery import sending_to
from memories.models import EmbeddingStatus, Memory
from testing.live import shared_database_url

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

BASE = "/api/v1/memories"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker(redis_url, settings, tmp_path):
    """A `celery -A config worker` subprocess on its own queue, sharing this test's database;
    this process's Celery app sends to it instead of running tasks in-process."""
    queue = f"engram-test-{uuid.uuid4().hex[:12]}"
    env = {
        **os.environ,
        "DATABASE_URL": shared_database_url(),
        "REDIS_URL": redis_url,
        "EMBEDDING_BACKEND": "local",
        "LOG_LEVEL": "WARNING",
    }
    log = (tmp_path / "worker.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "config", "worker",
            "--pool", "solo", "-Q", queue, "--without-gossip", "--without-mingle",
            "--without-heartbeat", "--loglevel", "WARNING",
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    settings.MEMORY_SUMMARY_DELAY_SECONDS = 3600  # keep the worker on the embedding task
    try:
        with sending_to(redis_url, queue=queue):
            yield process, tmp_path / "worker.log"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        # Leave nothing behind in a Redis other runs share (a countdown task may still wait).
        client = redis.Redis.from_url(redis_url)
        client.delete(queue, *client.keys(f"_kombu.binding*{queue}"))
        client.close()


def _wait_until_ready(ids, process, log_path, timeout=90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statuses = set(Memory.objects.filter(pk__in=ids).values_list("embedding_status", flat=True))
        if statuses == {EmbeddingStatus.READY}:
            return
        assert process.poll() is None, f"worker exited: {log_path.read_text()[-3000:]}"
        time.sleep(0.2)
    pytest.fail(f"not embedded in {timeout}s; worker log:\n{log_path.read_text()[-3000:]}")


def test_a_real_worker_embeds_and_search_finds_by_meaning(worker, auth_client, settings):
    process, log_path = worker
    settings.EMBEDDING_BACKEND = "local"
    notes = {
        "python": "I refactored my Python script to parse CSV files with pandas.",
        "food": "My grandmother's lasagna recipe uses fresh spinach and ricotta.",
        "travel": "We booked a hotel in Lisbon for the first week of May.",
    }
    body = {"memories": [{"content": text} for text in notes.values()]}

    created = auth_client.post(f"{BASE}/bulk", body, format="json")
    assert created.status_code == 201
    ids = [item["id"] for item in created.json()["results"]]
    assert set(Memory.objects.filter(pk__in=ids).values_list("embedding_status", flat=True)) == {
        EmbeddingStatus.PENDING
    }  # saving did not wait for the model

    _wait_until_ready(ids, process, log_path)
    assert set(Memory.objects.filter(pk__in=ids).values_list("embedding_model", flat=True)) == {
        "local:all-MiniLM-L6-v2-int8"
    }

    found = auth_client.post(
        f"{BASE}/search", {"query": "Python code", "mode": "semantic", "top_k": 3}, format="json"
    ).json()
    assert found["results"][0]["content"] == notes["python"]
    assert found["results"][0]["score"] > found["results"][1]["score"]
