"""The operators' review queue in the console: versions filtered by status, approve and reject
as actions (through the same service as the API), and the ledger with its monthly totals."""

import pytest
from django.utils import timezone

from marketplace.models import (
    Installation,
    InstallStatus,
    LedgerEntry,
    PluginVersion,
    ReviewDecision,
)
from marketplace.shares import period_of, split_fee
from marketplace.tests.conftest import manifest_of, submit

pytestmark = pytest.mark.django_db
VERSIONS = "/admin/marketplace/pluginversion/"


def test_the_review_queue_approves_and_rejects(operator_client, publisher_client):
    submit(publisher_client, manifest_of("acme.good"))
    submit(publisher_client, manifest_of("acme.bad"))
    good = PluginVersion.objects.get(plugin__slug="acme.good")
    bad = PluginVersion.objects.get(plugin__slug="acme.bad")

    pending = operator_client.get(VERSIONS, {"status__exact": "pending_review"})
    assert pending.status_code == 200
    assert "acme.good" in pending.content.decode() and "acme.bad" in pending.content.decode()

    for action, version in (("approve", good), ("reject", bad)):
        answer = operator_client.post(
            VERSIONS, {"action": action, "_selected_action": [str(version.pk)]}
        )
        assert answer.status_code == 302
    good.refresh_from_db()
    bad.refresh_from_db()
    assert (good.status, bad.status) == ("approved", "rejected")
    assert ReviewDecision.objects.count() == 2
    approved = operator_client.get(VERSIONS, {"status__exact": "approved"}).content.decode()
    assert "acme.good" in approved and "acme.bad" not in approved


def test_the_ledger_shows_totals_per_month(operator_client, publish, power_user):
    publish(manifest_of(price_cents=999))
    version = PluginVersion.objects.get()
    installation = Installation.objects.create(
        user=power_user, plugin=version.plugin, version=version, status=InstallStatus.ACTIVE
    )
    fee, share = split_fee(999)
    now = timezone.now()
    LedgerEntry.objects.create(
        publisher=version.plugin.publisher,
        plugin=version.plugin,
        installation=installation,
        kind="sale",
        gross_cents=999,
        fee_cents=fee,
        publisher_cents=share,
        stripe_object_id="pi_test",
        period=period_of(now),
        occurred_at=now,
    )

    page = operator_client.get("/admin/marketplace/ledgerentry/")

    html = page.content.decode()
    assert page.status_code == 200
    assert "Totals per month" in html
    assert f"<td>{period_of(now)}</td>" in html and "<td>299</td>" in html
    for model in ("plugin", "publisher", "installation", "payout"):
        assert operator_client.get(f"/admin/marketplace/{model}/").status_code == 200
