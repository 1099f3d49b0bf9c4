"""``billing_sync`` puts the tiers' prices into Stripe (idempotent); ``billing_reconcile``
re-reads every subscription and fixes tiers that drifted."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import User

pytestmark = pytest.mark.django_db


def run(command: str) -> str:
    out = StringIO()
    call_command(command, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_billing_sync_creates_each_paid_tier_once(fake_stripe):
    first = run("billing_sync")
    second = run("billing_sync")

    assert first.count("created") == 3
    assert second.count("kept") == 3
    prices = {
        request["params"]["lookup_key"]
        for request in fake_stripe.requests()
        if request["method"] == "POST" and request["path"] == "/v1/prices"
    }
    assert prices == {"engram_pro_monthly", "engram_power_monthly", "engram_team_monthly"}
    from djstripe.models import Price

    amounts = {p.lookup_key: p.unit_amount for p in Price.objects.all() if p.lookup_key}
    assert amounts == {
        "engram_pro_monthly": 1500,
        "engram_power_monthly": 2900,
        "engram_team_monthly": 4900,
    }


def test_billing_reconcile_fixes_a_tier_edited_by_hand(subscribe, user, other_user):
    subscribe("power")
    User.objects.filter(pk=user.pk).update(tier="free")  # an operator's slip, or a lost webhook

    output = run("billing_reconcile")

    user.refresh_from_db()
    other_user.refresh_from_db()
    assert user.tier == "power"
    assert other_user.tier == "free"  # no Stripe customer: left alone
    assert "1 tier(s) fixed" in output
    assert "0 tier(s) fixed" in run("billing_reconcile")


def test_commands_refuse_when_billing_is_off():
    with pytest.raises(CommandError, match="Billing is not enabled"):
        run("billing_sync")
