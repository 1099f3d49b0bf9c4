"""The pure rules: the revenue split's rounding, version order, manifest field errors."""

from datetime import UTC, datetime

import pytest

from marketplace.manifest import manifest_errors, version_is_newer
from marketplace.shares import period_of, previous_period, split_fee
from marketplace.tests.conftest import manifest_of


@pytest.mark.parametrize(
    ("gross", "fee", "share"),
    [(999, 299, 700), (1, 0, 1), (3, 0, 3), (4, 1, 3), (1000, 300, 700), (1001, 300, 701)],
)
def test_the_platform_fee_is_rounded_down_so_the_publisher_keeps_at_least_70_percent(
    gross, fee, share
):
    assert split_fee(gross) == (fee, share)
    assert share * 100 >= gross * 70
    assert split_fee(-gross) == (-fee, -share)  # a refund mirrors its sale


def test_every_amount_up_to_100_euros_splits_exactly():
    for gross in range(1, 10_001):
        fee, share = split_fee(gross)
        assert fee + share == gross and fee == gross * 30 // 100 and share * 10 >= gross * 7


@pytest.mark.parametrize(
    ("version", "than", "newer"),
    [
        ("1.0.1", "1.0.0", True),
        ("1.10.0", "1.9.9", True),
        ("1.0.0", "1.0.0-rc.1", True),
        ("1.0.0-rc.1", "1.0.0", False),
        ("1.0.0+build.7", "1.0.0", False),
        ("0.9.0", "1.0.0", False),
        ("2.0.0", None, True),
    ],
)
def test_version_order_is_semver(version, than, newer):
    assert version_is_newer(version, than) is newer


def test_a_valid_manifest_has_no_errors():
    assert manifest_errors(manifest_of()) == {}


def test_manifest_errors_name_their_field():
    errors = manifest_errors(
        {**manifest_of(permissions=["network:*.evil", "chat"]), "extra": 1, "name": "\x00\x01"}
    )
    assert set(errors) == {"manifest", "manifest.permissions[0]", "manifest.name"}
    assert "binary" in errors["manifest.name"][0]


def test_periods():
    assert period_of(datetime(2026, 1, 31, 23, 59, tzinfo=UTC)) == "2026-01"
    assert previous_period(datetime(2026, 1, 5, tzinfo=UTC)) == "2025-12"
