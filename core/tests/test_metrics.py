"""/metrics: who may read it, and that what operators alert on is counted where it happens."""

import os
import re
import subprocess
import sys
import urllib.request
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from accounts.services import tokens_issue
from config.asgi import application
from core import metrics
from core.metrics import histogram_quantile
from memories.services import MemoryDraft, memory_create
from testing.fake_openai import Reply
from testing.live import live_server

pytestmark = pytest.mark.django_db


def scrape(client, **extra) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", **extra)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse(response.content.decode())


def parse(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_loopback_may_scrape_others_need_the_token(client, settings):
    settings.METRICS_TOKEN = "metrics-token-for-tests"

    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1
    outside = {"REMOTE_ADDR": "203.0.113.9"}
    refused = client.get("/metrics", **outside)
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "NOT_FOUND"
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope", **outside)
    assert wrong.status_code == 404
    token = "Bearer metrics-token-for-tests"
    assert client.get("/metrics", HTTP_AUTHORIZATION=token, **outside).status_code == 200


def test_no_token_configured_means_allow_list_only(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]

    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200


def test_requests_are_counted_by_route_pattern_never_by_raw_path(client, auth_client):
    missing = uuid.uuid4()
    before = scrape(client)

    assert auth_client.get(f"/api/v1/memories/{missing}").status_code == 404

    text = client.get("/metrics").content.decode()
    after = parse(text)
    labels = {"route": "api/v1/memories/<str:memory_id>", "method": "GET", "status": "404"}
    name = "engram_http_requests_total"
    assert value(after, name, **labels) == value(before, name, **labels) + 1
    errors = {"code": "NOT_FOUND", "status": "404"}
    assert value(after, "engram_http_errors_total", **errors) == (
        value(before, "engram_http_errors_total", **errors) + 1
    )
    assert str(missing) not in text
    count = "engram_http_request_duration_seconds_count"
    timing = {"route": "api/v1/memories/<str:memory_id>", "method": "GET"}
    assert value(after, count, **timing) == value(before, count, **timing) + 1


def test_an_unknown_path_is_one_unmatched_series(client):
    client.get(f"/no/such/{uuid.uuid4()}")

    text = client.get("/metrics").content.decode()

    assert 'route="<unmatched>"' in text
    assert "/no/such/" not in text


def test_rate_limit_refusals_are_counted(client, auth_client, settings):
    settings.AUTH_RATE_LIMIT = "1/m"
    before = scrape(client)
    body = {"email": "nobody@example.com", "password": "wrong-password"}

    login = "/api/v1/auth/login"
    statuses = [client.post(login, body, "application/json").status_code for _ in range(2)]

    assert statuses[-1] == 429
    after = scrape(client)
    name = "engram_rate_limit_refusals_total"
    assert value(after, name, window="minute") == value(before, name, window="minute") + 1
    errors = {"code": "RATE_LIMITED", "status": "429"}
    assert value(after, "engram_http_errors_total", **errors) == (
        value(before, "engram_http_errors_total", **errors) + 1
    )


def test_tasks_and_embedding_throughput_are_counted(client, user, committing):
    before = scrape(client)

    committing(lambda: memory_create(user=user, draft=MemoryDraft(content="Counted.")))

    after = scrape(client)
    task = {"task": "memories.embed", "state": "SUCCESS"}
    assert value(after, "engram_celery_tasks_total", **task) > value(
        before, "engram_celery_tasks_total", **task
    )
    texts = {"embedder": "hashing-v1@384"}
    assert value(after, "engram_embedded_texts_total", **texts) > value(
        before, "engram_embedded_texts_total", **texts
    )
    assert value(after, "engram_celery_task_last_run_timestamp_seconds", task="memories.embed")


def test_llm_calls_and_tokens_are_counted_by_provider(client, auth_client, llm_upstream):
    before = scrape(client)
    llm_upstream.script(Reply(text="An answer."))
    url = "/v1/chat/completions"

    response = auth_client.post(
        url, {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
    )

    assert response.status_code == 200, response.content
    after = scrape(client)
    calls = {"provider": "openai", "outcome": "ok"}
    assert value(after, "engram_llm_calls_total", **calls) == (
        value(before, "engram_llm_calls_total", **calls) + 1
    )
    tokens = {"provider": "openai", "kind": "completion"}
    assert value(after, "engram_llm_tokens_total", **tokens) > value(
        before, "engram_llm_tokens_total", **tokens
    )


def test_quantiles_are_estimated_like_prometheus():
    buckets = [(0.1, 50.0), (0.5, 90.0), (1.0, 100.0), (float("inf"), 100.0)]

    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.95, buckets) == pytest.approx(0.75)
    assert histogram_quantile(0.5, [(0.1, 0.0), (float("inf"), 0.0)]) is None


@pytest.mark.django_db(transaction=True)
def test_two_server_processes_report_as_one(tmp_path):
    """With PROMETHEUS_MULTIPROC_DIR, a scrape of either process counts both processes' requests."""
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "LOG_LEVEL": "WARNING"}
    with (
        live_server(env, tmp_path / "one.log") as one,
        live_server(env, tmp_path / "two.log") as two,
    ):
        for server, times in ((one, 2), (two, 3)):
            for _ in range(times):
                urllib.request.urlopen(f"{server.url}/api/v1/version", timeout=5).read()
        text = urllib.request.urlopen(f"{one.url}/metrics", timeout=5).read().decode()

    samples = parse(text)
    labels = {"route": "api/v1/version", "method": "GET", "status": "200"}
    assert value(samples, "engram_http_requests_total", **labels) == 5
    assert re.search(r"^engram_uptime_seconds \d", text, re.MULTILINE)
    # Each process's own memory, which multi-process mode alone would not report.
    for server in (one, two):
        assert value(samples, "process_resident_memory_bytes", pid=str(server.pid)) > 0
        assert value(samples, "process_virtual_memory_bytes", pid=str(server.pid)) > 0


def test_a_process_that_is_gone_or_whose_pid_was_reused_has_no_memory_series(tmp_path, monkeypatch):
    """The multi-process directory keeps a process's files after it ends."""
    monkeypatch.setattr(metrics, "MULTIPROCESS_DIR", str(tmp_path))
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    (tmp_path / f"counter_{gone.stdout.strip()}.db").write_bytes(b"")
    older = tmp_path / f"counter_{os.getppid()}.db"  # a pid in use, by a process started earlier
    older.write_bytes(b"")
    os.utime(older, (0, 0))  # its files stopped changing before that process started

    families = {family.name: family for family in metrics.ProcessesCollector().collect()}

    pids = {sample.labels["pid"] for sample in families["process_resident_memory_bytes"].samples}
    assert pids == {str(os.getpid())}


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_an_open_websocket_is_counted_until_it_closes(user):
    def open_sockets() -> float:
        return REGISTRY.get_sample_value("engram_streams_open", {"kind": "websocket"}) or 0

    token = await sync_to_async(lambda: tokens_issue(user=user).access)()
    before = open_sockets()
    socket = WebsocketCommunicator(application, f"/ws/chat/?token={token}")
    connected, _ = await socket.connect(timeout=5)

    assert connected
    assert open_sockets() == before + 1
    await socket.disconnect()
    assert open_sockets() == before
