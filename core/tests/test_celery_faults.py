"""A real Celery worker on a Redis of the test's own: it rides out a Redis restart, and a task
whose worker was killed mid-batch runs again on the next worker within the visibility timeout,
with no beat running. What an outage or a killed worker left pending is queued again as soon as
a worker (re)connects or a web process finds the broker back, long before the periodic sweep or
the visibility timeout would."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis

from accounts.tests.factories import UserFactory
from config.celery import sending_to
from core import tasks
from memories.models import EmbeddingStatus, Memory
from memories.services import MemoryDraft, memory_create
from testing.fake_openai import Reply
from testing.live import REPO, shared_database_url
from testing.redis_server import redis_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.heavy(65)]
VISIBILITY_TIMEOUT = 3
# What the old mechanisms would wait for (an hour each), far beyond the recovery tests' bound.
NEVER = "3600"
# How long the recovery tests wait for pending memories; the broker or worker is back by then.
RECOVERY_BOUND_SECONDS = 90


class Worker:
    def __init__(self, env: dict[str, str], log: Path, queue: str) -> None:
        self.log = log
        with log.open("a") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "config", "worker", "--concurrency", "1",
                 "-Q", queue, "--loglevel", "INFO"],
                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        wait_until(lambda: " ready." in log.read_text(), "the worker to be ready", self)

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """Killed outright with its pool: no chance to hand back what it held."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_until(condition, what: str, worker: Worker | None = None, seconds: float = 90,
               every: float = 0.2) -> None:  # fmt: skip
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            log = worker.log.read_text()[-4000:] if worker else ""
            raise AssertionError(f"Still waiting for {what}.\n{log}")
        time.sleep(every)


def embedded(memory: Memory) -> bool:
    memory.refresh_from_db()
    return memory.embedding_status == EmbeddingStatus.READY


def none_pending(memories: list[Memory]) -> bool:
    ids = [memory.pk for memory in memories]
    return not Memory.objects.filter(pk__in=ids, embedding_status=EmbeddingStatus.PENDING).exists()


def save(user, text: str) -> Memory:
    memory, _ = memory_create(user=user, draft=MemoryDraft(content=text))
    return memory


@pytest.fixture
def broker(tmp_path, settings, monkeypatch):
    queue = f"engram-faults-{uuid.uuid4().hex[:12]}"
    monkeypatch.setattr(tasks, "_broker", tasks._BrokerState())  # no outage from another test
    with redis_server(tmp_path) as server, sending_to(server.url, queue=queue):
        yield server, queue


def worker_env(redis_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": shared_database_url(),
        "REDIS_URL": redis_url,
        "EMBEDDING_BACKEND": "hashing",
        **extra,
    }


def provider_env(redis_url: str, fake_openai, **extra: str) -> dict[str, str]:
    """A worker's environment that embeds with the fake provider."""
    return worker_env(
        redis_url,
        EMBEDDING_BACKEND="openai",
        EMBEDDING_API_BASE=fake_openai.base_url,
        EMBEDDING_API_KEY="fake-embedding-key",
        **extra,
    )


def killed_mid_batch(env: dict[str, str], log: Path, queue: str, fake_openai,
                     texts: list[str]) -> list[Memory]:  # fmt: skip
    """Memories saved while a worker runs, which is then killed with its pool while its first
    batch waits for a provider that never answers in time."""
    fake_openai.script(Reply(endpoint="embeddings", first_token_delay=120))
    worker = Worker(env, log, queue)
    try:
        user = UserFactory()
        memories = [save(user, text) for text in texts]
        wait_until(lambda: any(r.path.endswith("/embeddings") for r in fake_openai.requests),
                   "the first worker to be mid-batch", worker)  # fmt: skip
        worker.kill()
    finally:
        worker.stop()
    return memories


def test_a_workers_lines_go_through_the_redacting_formatter(broker, tmp_path):
    server, queue = broker
    worker = Worker(worker_env(server.url, LOG_FORMAT="text"), tmp_path / "worker.log", queue)
    worker.stop()
    log = worker.log.read_text()

    # Celery's own handlers write "[<time>: INFO/MainProcess] ..." and redact nothing.
    assert "INFO/MainProcess]" not in log
    assert re.search(r"^\S+ \S+ INFO \[-\] celery\.apps\.worker: .* ready\.$", log, re.M), log


def test_the_worker_rides_out_a_redis_restart(broker, tmp_path, settings):
    server, queue = broker
    # A change schedules the summary a while later: the worker holds that message unacknowledged
    # when Redis goes away, which is what made it exit.
    settings.MEMORY_SUMMARY_DELAY_SECONDS = 600
    worker = Worker(worker_env(server.url), tmp_path / "worker.log", queue)
    try:
        user = UserFactory()
        before = save(user, "Saved before the restart.")
        wait_until(lambda: embedded(before), "the first memory", worker)

        server.kill()
        wait_until(lambda: "Connection to broker lost" in worker.log.read_text(), "the loss",
                   worker)  # fmt: skip
        server.start()
        after = save(user, "Saved after the restart.")
        wait_until(lambda: embedded(after), "the memory saved after the restart", worker)

        assert worker.alive()
        assert "Unrecoverable error" not in worker.log.read_text()
    finally:
        worker.stop()


def test_a_batch_of_a_killed_worker_runs_again_without_beat(broker, tmp_path, fake_openai,
                                                            settings):  # fmt: skip
    server, queue = broker
    settings.MEMORY_SUMMARY_DELAY_SECONDS = 3600
    env = provider_env(server.url, fake_openai, CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT))
    (memory,) = killed_mid_batch(env, tmp_path / "first.log", queue, fake_openai,
                                 ["Embedded by whichever worker is left."])  # fmt: skip

    second = Worker(env, tmp_path / "second.log", queue)
    try:
        # Bounded by the visibility timeout (and kombu's 10 s check), not by a beat sweep.
        wait_until(lambda: embedded(memory), "the batch to run again", second, seconds=60)
    finally:
        second.stop()


def test_memories_saved_during_a_redis_outage_are_queued_when_the_worker_reconnects(
    broker, tmp_path, settings
):
    server, queue = broker
    settings.MEMORY_SUMMARY_DELAY_SECONDS = 600
    # Neither the periodic sweep (were beat running) nor a redelivery could pick them up in time.
    env = worker_env(
        server.url, MEMORY_PENDING_SWEEP_AFTER_SECONDS=NEVER, CELERY_VISIBILITY_TIMEOUT=NEVER
    )
    # The recovery sweep goes to the worker's default queue, and so does what it queues.
    worker = Worker(env, tmp_path / "worker.log", f"{queue},celery")
    try:
        server.kill()
        wait_until(lambda: "Connection to broker lost" in worker.log.read_text(), "the loss",
                   worker)  # fmt: skip
        user = UserFactory()
        during = [save(user, f"Saved while Redis is down, note {n}.") for n in range(20)]
        assert not any(embedded(memory) for memory in during)

        server.start()

        wait_until(lambda: none_pending(during), "the memories saved during the outage", worker,
                   seconds=RECOVERY_BOUND_SECONDS, every=0.5)  # fmt: skip
        assert all(embedded(memory) for memory in during)
    finally:
        worker.stop()


def test_a_killed_workers_memories_are_queued_when_a_worker_starts(broker, tmp_path, fake_openai,
                                                                  settings):  # fmt: skip
    server, queue = broker
    settings.MEMORY_SUMMARY_DELAY_SECONDS = 3600
    env = provider_env(
        server.url, fake_openai,
        MEMORY_PENDING_SWEEP_AFTER_SECONDS=NEVER, CELERY_VISIBILITY_TIMEOUT=NEVER,
    )  # fmt: skip
    texts = [f"Held by the worker that dies, note {n}." for n in range(3)]
    held = killed_mid_batch(env, tmp_path / "first.log", f"{queue},celery", fake_openai, texts)

    second = Worker(env, tmp_path / "second.log", f"{queue},celery")
    try:
        wait_until(lambda: none_pending(held), "the killed worker's memories", second,
                   seconds=RECOVERY_BOUND_SECONDS, every=0.5)  # fmt: skip
        assert all(embedded(memory) for memory in held)
    finally:
        second.stop()


def test_a_web_process_sends_the_recovery_sweeps_on_its_first_send_after_an_outage(
    broker, settings, monkeypatch
):
    server, queue = broker
    monkeypatch.setattr(tasks, "BROKER_RETRY_AFTER_SECONDS", 0.0)  # the next send tries again
    user = UserFactory()
    server.kill()
    during = save(user, "Saved while Redis is down.")
    during.refresh_from_db()
    assert during.embedding_error.startswith("Not queued yet")
    server.start()

    save(user, "Saved once Redis is back.")

    client = redis.Redis.from_url(server.url)
    try:
        sent = [json.loads(message)["headers"]["task"] for message in client.lrange(queue, 0, -1)]
    finally:
        client.close()
    assert set(settings.BROKER_RECOVERY_SWEEPS) <= set(sent), sent
