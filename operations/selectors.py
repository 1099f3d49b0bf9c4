"""What the operator dashboard shows: SQL aggregates over every app, and the metrics registry.

Everything is read-only (but for the API counters' snapshot, operations.api_health) and cached
for ``DASHBOARD_CACHE_SECONDS``, so an operator reloading the page costs the database one round
of aggregates per interval, however large it is. No memory or message text is read: counts,
sizes and statuses only.
"""

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import User
from billing.models import DailyUsage
from billing.selectors import mrr_by_tier
from billing.tiers import Tier
from chat.models import Message
from core import metrics
from llm.catalog import get_catalog
from memories.models import EmbeddingStatus, ExtractionJob, Memory, UserVectorIndex
from operations.api_health import api_snapshot_take, api_windows
from tasks.selectors import tasks_overview

CACHE_KEY = "operations:dashboard:v1"
DAYS = 14


def _days(today: date) -> list[date]:
    return [today - timedelta(days=offset) for offset in range(DAYS - 1, -1, -1)]


def _series(counts: dict[date, float], days: list[date]) -> list[tuple[str, float]]:
    return [(day.strftime("%b %d"), float(counts.get(day, 0))) for day in days]


def _per_day(queryset, field: str, since, value=None) -> dict[date, float]:
    rows = (
        queryset.filter(**{f"{field}__gte": since})
        .annotate(day=TruncDate(field))
        .values("day")
        .annotate(value=value or Count("pk"))
    )
    return {row["day"]: row["value"] or 0 for row in rows}


def memory_activity(since: datetime) -> dict[date, dict[int, int]]:
    """Memories created per day and user since ``since``: one pass over the table serves both the
    memories-per-day and the active-users-per-day charts."""
    sql = f"""
        SELECT (created_at AT TIME ZONE 'UTC')::date, user_id, count(*)
          FROM {Memory._meta.db_table} WHERE created_at >= %s GROUP BY 1, 2"""
    activity: dict[date, dict[int, int]] = defaultdict(dict)
    with connection.cursor() as cursor:
        cursor.execute(sql, [since])
        for day, user_id, count in cursor.fetchall():
            activity[day][user_id] = count
    return activity


def users_overview(days: list[date], since: datetime, activity: dict) -> dict:
    """Active: created a memory or used chat that day."""
    active = {day: set(users) for day, users in activity.items()}
    for day, user_id in DailyUsage.objects.filter(day__gte=since.date()).values_list(
        "day", "user_id"
    ):
        active.setdefault(day, set()).add(user_id)
    tiers = dict(User.objects.values_list("tier").annotate(n=Count("pk")))
    return {
        "total": sum(tiers.values()),
        "by_tier": [(tier.label, tiers.get(tier.value, 0)) for tier in Tier],
        "new_per_day": _series(_per_day(User.objects.all(), "date_joined", since), days),
        "active_per_day": _series({day: len(users) for day, users in active.items()}, days),
    }


def memories_overview(days: list[date], activity: dict) -> dict:
    totals = Memory.objects.aggregate(
        total=Count("pk"),
        storage=Sum("size_bytes"),
        pending=Count("pk", filter=Q(embedding_status=EmbeddingStatus.PENDING)),
        failed=Count("pk", filter=Q(embedding_status=EmbeddingStatus.FAILED)),
    )
    jobs = dict(ExtractionJob.objects.values_list("status").annotate(n=Count("pk")))
    per_day = {day: sum(users.values()) for day, users in activity.items()}
    return {
        "total": totals["total"],
        "storage_bytes": totals["storage"] or 0,
        "embedding_backlog": totals["pending"],
        "embedding_failed": totals["failed"],
        "per_day": _series(per_day, days),
        "jobs_by_status": sorted(jobs.items()),
    }


def provider_of(model_id: str) -> str:
    """The catalog's provider of ``model_id``; a model no longer in the catalog is "unknown"."""
    model = get_catalog().models.get(model_id)
    return model.provider if model is not None else "unknown"


def chat_overview(days: list[date], since) -> dict:
    answers = Message.objects.filter(role=Message.Role.ASSISTANT)
    tokens = F("prompt_tokens") + F("completion_tokens")
    per_day_model = (
        answers.filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values("day", "model_id")
        .annotate(turns=Count("pk"), tokens=Sum(tokens), cost=Sum("cost_usd"))
    )
    by_day: list[dict] = []
    by_model: dict[str, dict] = {}
    for row in per_day_model:
        entry = {
            "day": row["day"],
            "provider": provider_of(row["model_id"]),
            "model": row["model_id"],
            "turns": row["turns"],
            "tokens": row["tokens"] or 0,
            "cost_usd": row["cost"] or Decimal(0),
        }
        by_day.append(entry)
        total = by_model.setdefault(
            row["model_id"],
            {"provider": entry["provider"], "model": entry["model"], "turns": 0, "tokens": 0,
             "cost_usd": Decimal(0)},
        )  # fmt: skip
        for field in ("turns", "tokens", "cost_usd"):
            total[field] += entry[field]
    return {
        "turns_per_day": _series(_per_day(answers, "created_at", since), days),
        "tokens_per_day": _series(_per_day(answers, "created_at", since, Sum(tokens)), days),
        "cost_per_day": _series(_per_day(answers, "created_at", since, Sum("cost_usd")), days),
        # Newest day first; within a day, provider then model.
        "by_day": sorted(by_day, key=lambda e: (-e["day"].toordinal(), e["provider"], e["model"])),
        "by_model": sorted(by_model.values(), key=lambda e: -e["tokens"]),
    }


def workers_overview() -> dict:
    tasks: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for sample in metrics.samples("engram_celery_tasks"):
        if sample.name.endswith("_total"):
            tasks[sample.labels["task"]][sample.labels["state"]] += sample.value
    last_runs = {
        sample.labels["task"]: sample.value
        for sample in metrics.samples("engram_celery_task_last_run_timestamp_seconds")
    }
    scheduled = sorted({entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()})
    return {
        "in_process": settings.CELERY_TASK_ALWAYS_EAGER,
        "queues": sorted((metrics.celery_queue_depths() or {}).items()),
        "tasks": [
            {
                "task": name,
                "succeeded": int(states.get("SUCCESS", 0)),
                "failed": int(states.get("FAILURE", 0)),
                "retried": int(states.get("RETRY", 0)),
            }
            for name, states in sorted(tasks.items())
        ],
        "beat": [{"task": name, "last_run": _datetime(last_runs.get(name))} for name in scheduled],
    }


def _datetime(timestamp: float | None):
    if not timestamp:
        return None
    return datetime.fromtimestamp(timestamp, tz=UTC)


def database_overview() -> dict:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_database_size(current_database()),"
            " (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()),"
            " current_setting('max_connections')::int"
        )
        size, connections, max_connections = cursor.fetchone()
    pool_samples = metrics.samples("engram_db_pool_connections")
    pool = {sample.labels["state"]: int(sample.value) for sample in pool_samples}
    pool_options = settings.DATABASES["default"].get("OPTIONS", {}).get("pool") or {}
    indexes = UserVectorIndex.objects.values("status").annotate(n=Count("pk"), rows=Sum("rows"))
    return {
        "size_bytes": size,
        "connections": connections,
        "max_connections": max_connections,
        "pool": pool,
        "pool_max_size": pool_options.get("max_size"),
        "vector_indexes": [(row["status"], row["n"], row["rows"] or 0) for row in indexes],
    }


def dashboard_overview(*, refresh: bool = False) -> dict:
    """Every number the dashboard shows, computed at most once per ``DASHBOARD_CACHE_SECONDS``.

    ``refresh`` (the periodic task) computes anew and keeps the result for two periods, so the
    page finds it cached between two runs; a page that finds nothing computes it itself.
    """
    cached = None if refresh else cache.get(CACHE_KEY)
    if cached is not None:
        return cached
    api_snapshot_take()
    today = timezone.now().date()
    days = _days(today)
    since = datetime.combine(days[0], time.min, tzinfo=UTC)
    activity = memory_activity(since)
    overview = {
        "generated_at": timezone.now(),
        "users": users_overview(days, since, activity),
        "memories": memories_overview(days, activity),
        "chat": chat_overview(days, since),
        "tasks": tasks_overview(),
        "api": {"windows": api_windows()},
        "workers": workers_overview(),
        "database": database_overview(),
        "billing": mrr_by_tier() if settings.BILLING_ENABLED else [],
    }
    periods = 2 if refresh else 1
    cache.set(CACHE_KEY, overview, settings.DASHBOARD_CACHE_SECONDS * periods)
    return overview
