"""The admin's index page is the operators' dashboard: numbers from the database and metrics,
charts drawn inline, staff only, cached."""

import re
from decimal import Decimal

import pytest
from django.core.cache import cache

from accounts.tests.factories import UserFactory
from billing.models import DailyUsage
from chat.models import Message
from chat.tests.factories import ThreadFactory
from memories.models import EmbeddingStatus
from memories.tests.factories import MemoryFactory
from operations.selectors import dashboard_overview, endpoint_group
from operations.tasks import dashboard_refresh

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
    return thread


def test_the_index_page_shows_the_dashboard(operator_client, activity):
    response = operator_client.get("/admin/")

    html = response.content.decode()
    assert response.status_code == 200
    for section in ("users", "memories", "chat", "api", "workers", "database"):
        assert f'id="dash-{section}"' in html
    charts = re.findall(r'<svg class="chart".*?</svg>', html, re.S)
    assert len(charts) == 6
    assert all("<rect" in chart for chart in charts)
    assert "gpt-4o-mini" in html
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


def test_api_health_reads_the_metrics_registry(client, operator_client):
    cache.clear()
    client.get("/api/v1/version")

    groups = {row["group"]: row for row in dashboard_overview()["api"]["groups"]}

    version = groups["api/v1/version"]
    assert version["requests"] >= 1
    assert version["p50_ms"] is not None and version["p99_ms"] >= version["p50_ms"]


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
