"""Prometheus metrics of the web and worker processes, and the `/metrics` endpoint.

With ``PROMETHEUS_MULTIPROC_DIR`` set (before this module is imported) every process writes its
values to files there and a scrape sums them, so several web workers and Celery workers report as
one service; `manage.py serve` sets it up when it starts more than one process. Without it each
process reports only itself (tests, one `uvicorn` process). Each process's memory, CPU and open
files (``process_*``, labelled by ``pid`` when multi-process) are read from /proc at the scrape.

Requests are labelled by the resolved URL pattern (``api/v1/memories/<uuid:pk>``), never the raw
path, so ids cannot explode the number of series.
"""

import ipaddress
import json
import logging
import os
import re
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import redis
from celery import current_app, signals
from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.crypto import constant_time_compare
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric

# The classic text format, which every Prometheus version reads (generate_latest writes it).
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.samples import Sample

from core.errors import ErrorCode, error_response
from core.middleware import DualModeMiddleware

logger = logging.getLogger(__name__)

PROCESS_STARTED = time.time()
MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
MULTIPROCESS = bool(MULTIPROCESS_DIR)
UNMATCHED_ROUTE = "<unmatched>"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
TASK_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300)

HTTP_REQUESTS = Counter(
    "engram_http_requests", "HTTP requests answered.", ["route", "method", "status"]
)
HTTP_LATENCY = Histogram(
    "engram_http_request_duration_seconds",
    "Time to the response (its headers, for a stream).",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
HTTP_ERRORS = Counter(
    "engram_http_errors", "Error responses by their error-shape code.", ["code", "status"]
)
RATE_LIMIT_REFUSALS = Counter(
    "engram_rate_limit_refusals", "Requests refused by a rate limit.", ["window"]
)
STREAMS_OPEN = Gauge(
    "engram_streams_open",
    "SSE responses, WebSocket connections and raw uploads being received, open now.",
    ["kind"],
    multiprocess_mode="livesum",
)
DB_POOL = Gauge(
    "engram_db_pool_connections",
    "Pooled database connections of the web processes: in_use, idle, waiting (requests queued).",
    ["state"],
    multiprocess_mode="livesum",
)
CELERY_TASKS = Counter("engram_celery_tasks", "Celery tasks finished, by state.", ["task", "state"])
CELERY_TASK_DURATION = Histogram(
    "engram_celery_task_duration_seconds", "Celery task run time.", ["task"], buckets=TASK_BUCKETS
)
CELERY_TASK_LAST_RUN = Gauge(
    "engram_celery_task_last_run_timestamp_seconds",
    "When each task last finished (Unix time).",
    ["task"],
    multiprocess_mode="max",
)


# --- Requests ----------------------------------------------------------------------------------


def route_of(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return match.route if match is not None and match.route else UNMATCHED_ROUTE


def _error_code(response: HttpResponse) -> str:
    if response.streaming or "json" not in response.get("Content-Type", ""):
        return "NON_JSON"
    try:
        return str(json.loads(response.content)["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "NON_JSON"


def _count_sse(response: StreamingHttpResponse) -> None:
    """The gauge of open streams goes up now and down when the stream ends, however it ends."""
    STREAMS_OPEN.labels(kind="sse").inc()
    content = response.streaming_content

    if response.is_async:

        async def relay_async() -> AsyncIterator[bytes]:
            try:
                async for part in content:
                    yield part
            finally:
                STREAMS_OPEN.labels(kind="sse").dec()

        response.streaming_content = relay_async()
        return

    def relay() -> Iterator[bytes]:
        try:
            yield from content
        finally:
            STREAMS_OPEN.labels(kind="sse").dec()

    response.streaming_content = relay()


def update_pool_gauges() -> None:
    """This process's database pool as the gauges see it (psycopg_pool's own counters)."""
    pool = getattr(connections["default"], "pool", None)
    if pool is None:
        return
    stats = pool.get_stats()
    size, idle = stats.get("pool_size", 0), stats.get("pool_available", 0)
    DB_POOL.labels(state="in_use").set(size - idle)
    DB_POOL.labels(state="idle").set(idle)
    DB_POOL.labels(state="waiting").set(stats.get("requests_waiting", 0))


class MetricsMiddleware(DualModeMiddleware):
    """Counts and times every request by route and status; counts errors by code."""

    def before(self, request: HttpRequest) -> None:
        request.metrics_started = time.perf_counter()

    def after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        route, method = route_of(request), request.method or ""
        elapsed = time.perf_counter() - request.metrics_started
        HTTP_LATENCY.labels(route=route, method=method).observe(elapsed)
        HTTP_REQUESTS.labels(route=route, method=method, status=str(response.status_code)).inc()
        if response.status_code >= 400:
            HTTP_ERRORS.labels(code=_error_code(response), status=str(response.status_code)).inc()
        if response.streaming and response.get("Content-Type", "").startswith("text/event-stream"):
            _count_sse(response)
        update_pool_gauges()
        return response


class WebSocketMetrics:
    """ASGI wrapper that keeps the open-WebSocket gauge."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        STREAMS_OPEN.labels(kind="websocket").inc()
        try:
            await self.app(scope, receive, send)
        finally:
            STREAMS_OPEN.labels(kind="websocket").dec()


# --- Celery ------------------------------------------------------------------------------------

_task_started: dict[str, float] = {}


def _task_prerun(task_id: str | None = None, **kwargs) -> None:
    if task_id:
        _task_started[task_id] = time.perf_counter()


def _task_postrun(task_id: str | None = None, task=None, state: str | None = None, **kwargs):
    started = _task_started.pop(task_id or "", None)
    name = getattr(task, "name", "unknown")
    CELERY_TASKS.labels(task=name, state=state or "UNKNOWN").inc()
    if started is not None:
        CELERY_TASK_DURATION.labels(task=name).observe(time.perf_counter() - started)
    CELERY_TASK_LAST_RUN.labels(task=name).set(time.time())


def connect_celery_signals() -> None:
    """Count and time every task this process runs (workers, and eager tasks in the web)."""
    signals.task_prerun.connect(_task_prerun, weak=False, dispatch_uid="engram-metrics-prerun")
    signals.task_postrun.connect(_task_postrun, weak=False, dispatch_uid="engram-metrics-postrun")


def celery_queue_names() -> list[str]:
    conf = current_app.conf
    names = {conf.task_default_queue or "celery"}
    names.update(queue.name for queue in conf.task_queues or ())
    return sorted(names)


def celery_queue_depths() -> dict[str, int] | None:
    """Messages waiting in each queue of a Redis broker; None when there is no Redis broker
    (tasks run in-process) or it does not answer."""
    broker = settings.CELERY_BROKER_URL
    if not broker.startswith(("redis://", "rediss://")):
        return None
    client = redis.Redis.from_url(broker, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        return {name: int(client.llen(name)) for name in celery_queue_names()}
    except redis.RedisError as exc:
        logger.warning("Celery queue depths unavailable: %s", exc)
        return None
    finally:
        client.close()


class ScrapeTimeCollector:
    """What is read when Prometheus asks rather than counted as it happens."""

    def collect(self):
        depth = GaugeMetricFamily(
            "engram_celery_queue_depth", "Messages waiting in each Celery queue.", labels=["queue"]
        )
        for name, value in (celery_queue_depths() or {}).items():
            depth.add_metric([name], value)
        yield depth
        yield GaugeMetricFamily(
            "engram_uptime_seconds",
            "Seconds since the process that answered the scrape started.",
            value=time.time() - PROCESS_STARTED,
        )


# prometheus_client names each process's files in the multi-process directory after its pid.
_WRITER_FILE = re.compile(r"_(\d+)\.db$")
# /proc gives start times to the second (the boot time's precision).
_START_SLACK_SECONDS = 1.0


def _metric_writers(path: Path) -> dict[int, float]:
    """Every process that wrote metrics to ``path`` (the pid in its files' names), with when it
    last wrote; this process always, it is answering."""
    writers: dict[int, float] = {}
    for file in path.glob("*.db"):
        if not (match := _WRITER_FILE.search(file.name)):
            continue
        try:
            written = file.stat().st_mtime
        except FileNotFoundError:  # a live gauge's file removed since the glob
            continue
        writers[int(match[1])] = max(writers.get(int(match[1]), 0.0), written)
    writers[os.getpid()] = time.time()
    return writers


class ProcessesCollector:
    """The ``process_*`` series (resident and virtual memory, CPU, open files, start time) of
    every process writing to ``PROMETHEUS_MULTIPROC_DIR``, labelled by ``pid``, read from
    /proc at the scrape. prometheus_client's multi-process mode reports only what processes
    wrote to their files, so it has none of these. A process that is gone has no /proc entry;
    one whose pid was reused started after the files stopped changing: both are left out.
    Without /proc (not Linux) there are none."""

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for pid, last_written in sorted(_metric_writers(Path(MULTIPROCESS_DIR)).items()):
            families = ProcessCollector(pid=lambda pid=pid: pid, registry=None).collect()
            started = [
                f.samples[0].value for f in families if f.name.endswith("start_time_seconds")
            ]
            if not started or started[0] > last_written + _START_SLACK_SECONDS:
                continue
            for family in families:
                metric = merged.setdefault(
                    family.name, Metric(family.name, family.documentation, family.type)
                )
                for sample in family.samples:
                    metric.add_sample(sample.name, {"pid": str(pid)}, sample.value)
        yield from merged.values()


def prepare_multiprocess_dir(path: Path) -> None:
    """Empty ``path`` and name it ``PROMETHEUS_MULTIPROC_DIR`` for the processes started after
    this: each writes its values there, and a scrape of any of them sums all. Emptied at each
    start, so a previous run's processes do not count."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)


# --- /metrics ------------------------------------------------------------------------------------


def _client_allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        return constant_time_compare(header.removeprefix("Bearer "), token)
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net) for net in settings.METRICS_ALLOWED_IPS)


def _registry() -> CollectorRegistry:
    update_pool_gauges()
    if not MULTIPROCESS:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def exposition() -> bytes:
    """Every metric in Prometheus' text format, summed over processes when multi-process."""
    extra = CollectorRegistry()
    extra.register(ScrapeTimeCollector())
    if MULTIPROCESS:
        extra.register(ProcessesCollector())
    return generate_latest(_registry()) + generate_latest(extra)


def samples(name: str) -> list[Sample]:
    """The current samples of the metric family ``name`` (as exposed, e.g. the ``_bucket``,
    ``_count`` and ``_sum`` samples of a histogram), summed over processes when multi-process."""
    for family in _registry().collect():
        if family.name == name:
            return list(family.samples)
    return []


def histogram_quantile(quantile: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus' estimate of a quantile from cumulative ``(upper bound, count)`` buckets: linear
    within the bucket it falls in. None without observations."""
    buckets = sorted(buckets)
    total = buckets[-1][1] if buckets else 0
    if not total:
        return None
    rank = quantile * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower_bound
            share = (rank - lower_count) / (count - lower_count) if count > lower_count else 0
            return lower_bound + (bound - lower_bound) * share
        lower_bound, lower_count = bound, count
    return lower_bound


def metrics_view(request: HttpRequest) -> HttpResponse:
    """`GET /metrics`: for clients with ``METRICS_TOKEN`` as a bearer token or an address in
    ``METRICS_ALLOWED_IPS``; anyone else gets the 404 of a page that does not exist."""
    if not _client_allowed(request):
        return error_response(404, ErrorCode.NOT_FOUND, "Not found.")
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_PLAIN_0_0_4)
