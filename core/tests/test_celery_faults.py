"""A real Celery worker on a Redis of the test's own: it rides out a Redis restart, and a task
whose worker was killed mid-batch runs again on the next worker within the visibility timeout,
with no beat running."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from accounts.tests.factories import UserFactory
from config.celery import sending_to
from memories.models import EmbeddingStatus, Memory
from memories.services import MemoryDraft, memory_create
from testing.fake_openai import Reply
from testing.live import REPO, shared_database_url
from testing.redis_server import redis_server

pytestmark = pytest.mark.django_db(transaction=True)
VISIBILITY_TIMEOUT = 3


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


def wait_until(condition, what: str, worker: Worker | None = None, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            log = worker.log.read_text()[-4000:] if worker else ""
            raise AssertionError(f"Still waiting for {what}.\n{log}")
        time.sleep(0.2)


def embedded(memory: Memory) -> bool:
    memory.refresh_from_db()
    return memory.embedding_status == EmbeddingStatus.READY


def save(user, text: str) -> Memory:
    memory, _ = memory_create(user=user, draft=MemoryDraft(content=text))
    return memory


@pytest.fixture
def broker(tmp_path, settings):
    queue = f"engram-faults-{uuid.uuid4().hex[:12]}"
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
    env = worker_env(
        server.url,
        EMBEDDING_BACKEND="openai",
        EMBEDDING_API_BASE=fake_openai.base_url,
        EMBEDDING_API_KEY="fake-embedding-key",
        CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT),
    )
    # The first batch meets a provider that never answers in time: its worker dies waiting.
    fake_openai.script(Reply(endpoint="embeddings", first_token_delay=120))
    first = Worker(env, tmp_path / "first.log", queue)
    try:
        memory = save(UserFactory(), "Embedded by whichever worker is left.")
        wait_until(lambda: any(r.path.endswith("/embeddings") for r in fake_openai.requests),
                   "the first worker to be mid-batch", first)  # fmt: skip
        first.kill()
    finally:
        first.stop()

    second = Worker(env, tmp_path / "second.log", queue)
    try:
        # Bounded by the visibility timeout (and kombu's 10 s check), not by a beat sweep.
        wait_until(lambda: embedded(memory), "the batch to run again", second, seconds=60)
    finally:
        second.stop()
