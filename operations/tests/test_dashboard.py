"""The admin's index page is the operators' dashboard: numbers from the database and metrics,
charts drawn inline, staff only, cached."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.utils import timezone

from accounts.tests.factories import UserFactory
from billing.models import DailyUsage
from chat.models import Message
from chat.tests.factories import ThreadFactory
from memories.models import EmbeddingStatus
from memories.tests.factories import MemoryFactory
from operations.api_health import api_snapshot_take, api_windows, endpoint_group
from operations.models import ApiSnapshot
from operations.selectors import dashboard_overview
from operations.tasks import dashboard_refresh
from tasks.tests.factories import ProjectFactory, TaskFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def activity(user, other_user):
    MemoryFactory.create_batch(3, user=user)
    MemoryFactory(user=other_user, embedding_status=EmbeddingStatus.FAILED)
    thread = ThreadFactory(user=user)
    Message.objects.create(
        thread=thread, model_id="gpt-4o-mini", role="assistant", content="secret answer text",
        prompt_tokens=100, completion_tokens=20, cost_usd=Decimal("0.0012"),
    )  # fmt: skip
    Message.objects.create(
        thread=thread, model_id="no-longer-in-the-catalog", role="assistant", content="x",
        prompt_tokens=5, completion_tokens=5, cost_usd=Decimal("0.5"),
    )  # fmt: skip
    Message.objects.filter(model_id="no-longer-in-the-catalog").update(
        created_at=timezone.now() - timedelta(days=1)
    )
    return thread


def test_the_index_page_shows_the_dashboard(operator_client, activity):
    response = operator_client.get("/admin/")

    html = response.content.decode()
    assert response.status_code == 200
    for section in ("users", "memories", "tasks", "chat", "api", "workers", "database"):
        assert f'id="dash-{section}"' in html
    charts = re.findall(r'<svg class="chart".*?</svg>', html, re.S)
    assert len(charts) == 6
    assert all("<rect" in chart for chart in charts)
    assert "gpt-4o-mini" in html
    assert 'id="api-hour"' in html and 'id="api-day"' in html
    assert "secret answer text" not in html
    assert 'href="/admin/memories/memory/"' in html  # the model lists are still there


def test_numbers_come_from_the_database(activity, user):
    DailyUsage.objects.create(user=user, day=activity.created_at.date(), requests=1)

    overview = dashboard_overview()

    assert overview["memories"]["total"] == 4
    assert overview["memories"]["embedding_failed"] == 1
    assert overview["memories"]["per_day"][-1][1] == 4
    assert overview["users"]["total"] == 2
    assert dict(overview["users"]["by_tier"])["Free"] == 2
    assert overview["users"]["active_per_day"][-1][1] == 2
    assert overview["chat"]["turns_per_day"][-1][1] == 1
    assert overview["chat"]["tokens_per_day"][-1][1] == 120
    assert overview["chat"]["by_model"][0]["cost_usd"] == Decimal("0.0012")


def test_tasks_and_projects_are_counted(user, other_user):
    ProjectFactory(user=user)
    ProjectFactory(user=other_user, is_archived=True)
    TaskFactory(user=user, status="done")
    TaskFactory(user=user, status="in_progress")
    TaskFactory(user=other_user, is_ai_suggested=True, is_approved=False)

    tasks = dashboard_overview()["tasks"]

    assert tasks == {
        "total": 3,
        "open": 2,
        "done": 1,
        "awaiting_approval": 1,
        "projects": 2,
        "projects_archived": 1,
    }


def test_chat_tokens_and_cost_per_day_are_by_provider_and_model(activity):
    chat = dashboard_overview()["chat"]

    today, yesterday = timezone.now().date(), timezone.now().date() - timedelta(days=1)
    rows = [
        (row["day"], row["provider"], row["model"], row["tokens"], row["cost_usd"])
        for row in chat["by_day"]
    ]
    assert rows == [
        (today, "openai", "gpt-4o-mini", 120, Decimal("0.0012")),
        (yesterday, "unknown", "no-longer-in-the-catalog", 10, Decimal("0.5")),
    ]
    assert [(row["provider"], row["model"]) for row in chat["by_model"]] == [
        ("openai", "gpt-4o-mini"),
        ("unknown", "no-longer-in-the-catalog"),
    ]


def get_version(client, times: int) -> None:
    for _ in range(times):
        assert client.get("/api/v1/version").status_code == 200


def test_api_health_is_windowed_over_the_last_hour_and_day(client):
    """The registry counts since start; a window is what it counted since the snapshot at the
    window's start."""
    now = timezone.now()
    get_version(client, 3)
    api_snapshot_take(now=now - timedelta(hours=25))
    get_version(client, 2)
    api_snapshot_take(now=now - timedelta(hours=2))
    get_version(client, 1)
    assert client.post("/api/v1/version").status_code == 405

    windows = {window["key"]: window for window in api_windows(now=now)}

    hour = {row["group"]: row for row in windows["hour"]["groups"]}["api/v1/version"]
    day = {row["group"]: row for row in windows["day"]["groups"]}["api/v1/version"]
    assert (hour["requests"], day["requests"]) == (2, 4)
    assert hour["client_error_pct"] == 50 and day["client_error_pct"] == 25
    assert hour["per_minute"] == pytest.approx(2 / 120)  # since the snapshot two hours ago
    assert hour["p50_ms"] is not None and hour["p99_ms"] >= hour["p50_ms"]
    assert windows["hour"]["complete"] and windows["day"]["complete"]


def test_a_window_older_than_the_snapshots_starts_at_the_oldest(client):
    now = timezone.now()
    api_snapshot_take(now=now - timedelta(minutes=10))
    get_version(client, 2)

    windows = {window["key"]: window for window in api_windows(now=now)}

    for window in windows.values():
        assert not window["complete"] and window["since"] == now - timedelta(minutes=10)
        rows = {row["group"]: row for row in window["groups"]}
        assert rows["api/v1/version"]["requests"] == 2


def test_snapshots_are_taken_at_most_once_a_minute_and_kept_a_day(client):
    now = timezone.now()
    api_snapshot_take(now=now - timedelta(days=2))
    assert api_snapshot_take(now=now) is not None
    assert api_snapshot_take(now=now + timedelta(seconds=30)) is None

    assert list(ApiSnapshot.objects.values_list("taken_at", flat=True)) == [now]


def test_a_restart_counts_from_zero_again(client):
    now = timezone.now()
    get_version(client, 1)
    snapshot = api_snapshot_take(now=now - timedelta(hours=2))
    # As if the service had served many more requests before a restart emptied its counters.
    for group in snapshot.counters["groups"].values():
        group["requests"] += 1_000_000
    snapshot.save()
    get_version(client, 1)

    hour = {row["group"]: row for row in api_windows(now=now)[0]["groups"]}
    assert hour["api/v1/version"]["requests"] >= 2  # everything counted since the restart


def test_a_reload_within_the_cache_period_costs_no_aggregate_query(
    operator_client, activity, django_assert_max_num_queries
):
    operator_client.get("/admin/")
    MemoryFactory.create_batch(2, user=activity.user)

    with django_assert_max_num_queries(6):  # session, user, the admin's recent actions
        html = operator_client.get("/admin/").content.decode()

    assert "<b>4</b><span>memories</span>" in html


def test_the_periodic_refresh_leaves_numbers_for_the_page(
    operator_client, activity, django_assert_max_num_queries
):
    dashboard_refresh.delay()  # runs in-process in tests, as beat's worker would run it
    MemoryFactory(user=activity.user)

    with django_assert_max_num_queries(6):
        html = operator_client.get("/admin/").content.decode()

    assert "<b>4</b><span>memories</span>" in html
    dashboard_refresh.delay()
    assert dashboard_overview()["memories"]["total"] == 5


def test_staff_only(client, user):
    assert client.get("/admin/").status_code == 302
    client.force_login(user)
    assert client.get("/admin/").status_code == 302
    staff = UserFactory(is_staff=True)
    client.force_login(staff)
    assert client.get("/admin/").status_code == 200


def test_revenue_shows_only_with_billing_on(operator_client, settings):
    assert 'id="dash-billing"' not in operator_client.get("/admin/").content.decode()

    settings.BILLING_ENABLED = True
    cache.clear()
    page = operator_client.get("/admin/").content.decode()
    assert 'id="dash-billing"' in page and "power" in page


@pytest.mark.parametrize(
    ("route", "group"),
    [
        ("api/v1/memories/<uuid:pk>", "api/v1/memories"),
        ("api/v1/threads/<uuid:thread_id>/models/<path:model>/messages", "api/v1/threads"),
        ("v1/chat/completions", "v1/chat"),
        ("health/ready", "health/ready"),
        ("<unmatched>", "<unmatched>"),
    ],
)
def test_routes_are_grouped_by_their_leading_segments(route, group):
    assert endpoint_group(route) == group
