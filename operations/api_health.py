"""The dashboard's API health over the last hour and the last day, from the metrics registry.

The registry holds counters since the web processes started (summed over all of them when there
are several, core.metrics), not windows. Every refresh of the dashboard (the beat task every
DASHBOARD_CACHE_SECONDS, or a page view that finds the cache cold) keeps a snapshot of them, at
most one per SNAPSHOT_EVERY, and the window's numbers are the counters now less the newest
snapshot taken before the window began: requests, errors and latency buckets by difference, the
percentiles from the buckets, as Prometheus' ``increase()`` and ``histogram_quantile()`` do.
Snapshots live in the database, so any process may take or read them. When the counters went
down (the service restarted and they began again), what they count now is what the window had.
A window the snapshots do not reach back to yet starts at the oldest one (``since`` says when).
"""

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone

from core import metrics
from operations.models import ApiSnapshot

QUANTILES = (0.5, 0.95, 0.99)
WINDOWS = (("hour", "Last hour", timedelta(hours=1)), ("day", "Last day", timedelta(days=1)))
SNAPSHOT_EVERY = timedelta(minutes=1)
# Kept a little past the longest window, so its start always has a snapshot before it.
SNAPSHOT_KEEP = timedelta(days=1, hours=1)
COUNTS = ("requests", "server_errors", "client_errors")


def endpoint_group(route: str) -> str:
    """Routes grouped by their first path segments: ``api/v1/memories/<uuid:pk>`` →
    ``api/v1/memories``."""
    parts = [part for part in route.split("/") if part and not part.startswith("<")]
    depth = 3 if parts[:2] == ["api", "v1"] else 2
    return "/".join(parts[:depth]) or route


def _empty_group() -> dict[str, Any]:
    return {"requests": 0.0, "server_errors": 0.0, "client_errors": 0.0, "buckets": {}}


def api_counters() -> dict[str, Any]:
    """The registry's request counters now, per endpoint group (JSON-ready)."""
    groups: dict[str, dict[str, Any]] = defaultdict(_empty_group)
    for sample in metrics.samples("engram_http_requests"):
        if sample.name.endswith("_total"):
            group = groups[endpoint_group(sample.labels["route"])]
            group["requests"] += sample.value
            status = sample.labels["status"]
            if status.startswith("5"):
                group["server_errors"] += sample.value
            elif status.startswith("4"):
                group["client_errors"] += sample.value
    for sample in metrics.samples("engram_http_request_duration_seconds"):
        if sample.name.endswith("_bucket"):
            buckets = groups[endpoint_group(sample.labels["route"])]["buckets"]
            bound = sample.labels["le"]
            buckets[bound] = buckets.get(bound, 0) + sample.value
    refusals = sum(
        sample.value
        for sample in metrics.samples("engram_rate_limit_refusals")
        if sample.name.endswith("_total")
    )
    return {"groups": dict(groups), "rate_limit_refusals": refusals}


def api_snapshot_take(*, now: datetime | None = None) -> ApiSnapshot | None:
    """Keep the counters as they are now, unless a snapshot is younger than SNAPSHOT_EVERY;
    forget those past SNAPSHOT_KEEP. Safe to run from several processes at once: at worst two
    snapshots a moment apart."""
    now = now or timezone.now()
    if ApiSnapshot.objects.filter(taken_at__gt=now - SNAPSHOT_EVERY).exists():
        return None
    ApiSnapshot.objects.filter(taken_at__lt=now - SNAPSHOT_KEEP).delete()
    return ApiSnapshot.objects.create(taken_at=now, counters=api_counters())


def _increase(now: float, then: float) -> float:
    return now - then if now >= then else now


def _difference(current: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    then = base.get("groups", {})
    groups = {}
    for name, group in current["groups"].items():
        old = then.get(name, _empty_group())
        if group["requests"] < old["requests"]:  # restarted since: all of it is new
            old = _empty_group()
        groups[name] = {
            **{count: _increase(group[count], old[count]) for count in COUNTS},
            "buckets": {
                bound: _increase(value, old["buckets"].get(bound, 0))
                for bound, value in group["buckets"].items()
            },
        }
    refusals = _increase(current["rate_limit_refusals"], base.get("rate_limit_refusals", 0))
    return {"groups": groups, "rate_limit_refusals": refusals}


def _rows(groups: dict[str, Any], minutes: float) -> list[dict[str, Any]]:
    rows = []
    for name, group in sorted(groups.items(), key=lambda item: -item[1]["requests"]):
        requests = group["requests"]
        if not requests:
            continue
        buckets = [(float(bound), count) for bound, count in group["buckets"].items()]
        latencies = [metrics.histogram_quantile(q, buckets) for q in QUANTILES]
        rows.append(
            {
                "group": name,
                "requests": int(requests),
                "per_minute": requests / minutes,
                "p50_ms": latencies[0] and latencies[0] * 1000,
                "p95_ms": latencies[1] and latencies[1] * 1000,
                "p99_ms": latencies[2] and latencies[2] * 1000,
                "server_error_pct": 100 * group["server_errors"] / requests,
                "client_error_pct": 100 * group["client_errors"] / requests,
            }
        )
    return rows


def api_windows(*, now: datetime | None = None) -> list[dict[str, Any]]:
    """Per window (last hour, last day): requests per minute, p50/p95/p99 latency and error
    rates per endpoint group, and rate-limit refusals; ``since``: where the window really
    starts (later than asked while the snapshots do not reach back that far)."""
    now = now or timezone.now()
    current = api_counters()
    started = datetime.fromtimestamp(metrics.PROCESS_STARTED, tz=UTC)
    oldest = ApiSnapshot.objects.order_by("taken_at").first()
    windows = []
    for key, label, length in WINDOWS:
        base = ApiSnapshot.objects.filter(taken_at__lte=now - length).first() or oldest
        since, counters = (base.taken_at, base.counters) if base else (started, {})
        window = _difference(current, counters)
        minutes = max((now - since).total_seconds() / 60, 1 / 60)
        windows.append(
            {
                "key": key,
                "label": label,
                "since": since,
                "complete": since <= now - length,
                "groups": _rows(window["groups"], minutes),
                "rate_limit_refusals": int(window["rate_limit_refusals"]),
            }
        )
    return windows
