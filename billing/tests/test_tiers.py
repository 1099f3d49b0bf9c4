"""The tier matrix answers "may this user do X, and how much is left"."""

from types import SimpleNamespace

import pytest

from billing.tiers import TIERS, Tier, allowance, tier_limits


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


def test_a_teams_limits_are_per_seat_per_person_never_pooled():
    team = SimpleNamespace(tier=Tier.TEAM, seats=3)

    assert allowance(team, "requests_per_minute").limit == 200  # the owner's own, one seat's
    assert tier_limits(Tier.TEAM, 3).requests_per_minute == 600  # the team's together
    assert allowance(team, "memories").limit is None
    assert allowance(SimpleNamespace(tier=Tier.PRO, seats=3), "requests_per_minute").limit == 60


def test_the_feature_matrix_of_the_cloud_design():
    free, pro, power = (user_of(t) for t in (Tier.FREE, Tier.PRO, Tier.POWER))

    assert allowance(free, "agents", used=3).allowed is False
    assert allowance(pro, "agents", used=10**6).allowed
    assert allowance(free, "active_batches", used=1).allowed
    assert allowance(pro, "active_batches", used=10).allowed is False
    assert allowance(power, "active_batches", used=10**6).allowed
    assert not allowance(pro, "batch_builder").allowed
    assert allowance(power, "batch_builder").allowed
    assert allowance(free, "cloud_storage_bytes", adding=1).allowed is False
    assert allowance(pro, "cloud_storage_bytes", used=5 * 1024**3 - 1).allowed


def test_self_hosted_has_every_feature_without_a_daily_cap():
    owner = user_of(Tier.SELF_HOSTED)

    assert TIERS[Tier.SELF_HOSTED].requests_per_day is None
    assert TIERS[Tier.SELF_HOSTED].requests_per_minute > TIERS[Tier.TEAM].requests_per_minute
    assert all(
        allowance(owner, feature, used=10**9).allowed
        for feature in ("memories", "provider_keys", "agents", "plugin_marketplace", "sso")
    )
