"""``GET /api/v1/billing/usage``: each meter counts what its limit counts."""

import pytest
from django.utils import timezone

from accounts.tests.factories import UserFactory
from billing.models import DailyUsage
from billing.tests.conftest import BILLING
from billing.tiers import Tier
from conftest import bearer_client

pytestmark = pytest.mark.django_db


def test_requests_today_counts_the_requests_the_daily_limit_counts(auth_client, user):
    # Given LLM calls recorded today, and three API requests that made none
    DailyUsage.objects.create(user=user, day=timezone.now().date(), requests=7)
    for _ in range(3):
        assert auth_client.get("/api/v1/auth/me").status_code == 200

    # When the user asks for their usage
    answer = auth_client.get(f"{BILLING}/usage")

    # Then requests_today is the daily window's count (the three and this one), not LLM calls
    assert answer.status_code == 200, answer.content
    assert answer.json()["requests_today"] == {"used": 4, "limit": 1_000}
    assert answer.json()["requests"]["used"] == 7


def test_requests_today_is_not_counted_without_a_daily_limit():
    client = bearer_client(UserFactory(tier=Tier.TEAM))

    answer = client.get(f"{BILLING}/usage")

    assert answer.json()["requests_today"] == {"used": None, "limit": None}
