"""The tier matrix answers "may this user do X, and how much is left"."""

from types import SimpleNamespace

import pytest

from billing.tiers import TIERS, Tier, allowance


def user_of(tier: str) -> SimpleNamespace:
    return SimpleNamespace(tier=tier)


@pytest.mark.parametrize(
    ("tier", "per_minute", "per_day"),
    [("free", 20, 1_000), ("pro", 60, 10_000), ("power", 120, 50_000), ("team", 200, None)],
)
def test_request_rates_match_the_reference_matrix(tier, per_minute, per_day):
    assert TIERS[tier].requests_per_minute == per_minute
    assert TIERS[tier].requests_per_day == per_day


def test_counted_features_report_what_is_left():
    free = user_of(Tier.FREE)

    assert allowance(free, "provider_keys", used=0).allowed
    exhausted = allowance(free, "provider_keys", used=1)
    assert (exhausted.allowed, exhausted.limit, exhausted.remaining) == (False, 1, 0)
    assert not allowance(free, "memories", used=4_999, adding=2).allowed


def test_unlimited_and_yes_no_features():
    team = user_of(Tier.TEAM)

    assert allowance(team, "memories", used=10**9).allowed
    assert allowance(team, "memories", used=10**9).remaining is None
    assert allowance(team, "plugin_marketplace").allowed
    assert not allowance(user_of(Tier.PRO), "plugin_marketplace").allowed


def test_an_unknown_tier_gets_free_limits():
    assert allowance(user_of("legacy"), "provider_keys", used=1).allowed is False
