"""Paid plugins through the local Stripe (its own process): Connect onboarding, a destination
charge with a 30% application fee, the install granted only by the payment's webhook, the
ledger to the cent, refunds, and the monthly payout paying once."""

from urllib.parse import urlsplit

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from marketplace.models import Installation, LedgerEntry, Payout
from marketplace.services.installs import installation_refund
from marketplace.shares import period_of
from marketplace.tasks import payouts_run
from marketplace.tests.conftest import MARKETPLACE, PLUGINS, manifest_of, payment_started
from testing.fixtures import post_delivery

pytestmark = pytest.mark.django_db


def _intent_requests(fake_stripe) -> list[dict]:
    return [
        r["params"]
        for r in fake_stripe.requests()
        if r["method"] == "POST" and r["path"] == "/v1/payment_intents"
    ]


def test_onboarding_sends_the_publisher_back_to_the_address_they_reached(
    publisher_client, fake_stripe
):
    answer = publisher_client.post(
        f"{MARKETPLACE}/publisher/onboarding", HTTP_HOST="127.0.0.1:9123"
    )

    assert answer.status_code == 200, answer.content
    [link] = [r["params"] for r in fake_stripe.requests() if r["path"] == "/v1/account_links"]
    assert link["return_url"] == "http://127.0.0.1:9123/?marketplace=onboarded"
    assert link["refresh_url"] == "http://127.0.0.1:9123/?marketplace=onboarding"


def test_onboarding_reports_what_stripe_says(connected):
    assert connected.finish()["payouts_enabled"] is True


@pytest.mark.parametrize(
    ("price", "fee", "share"), [(999, 299, 700), (50, 15, 35), (1001, 300, 701)]
)
def test_a_paid_install_is_granted_by_the_webhook_and_split_70_30(
    connected, publish, power_client, power_user, fake_stripe, deliver, price, fee, share
):
    connected.finish()
    publish(manifest_of(price_cents=price))
    deliver()

    # when the user installs, a destination charge with the platform's fee is started ...
    body = payment_started(fake_stripe, power_client, "acme.notes")
    (request,) = _intent_requests(fake_stripe)
    assert request["amount"] == str(price)
    assert request["application_fee_amount"] == str(fee)
    assert request["transfer_data"] == {"destination": connected.id}
    # ... and nothing is installed before Stripe says the payment succeeded
    assert power_client.get(f"{PLUGINS}/installed").json()["results"] == []
    assert not LedgerEntry.objects.exists()
    again = payment_started(fake_stripe, power_client, "acme.notes")
    assert again["payment"]["payment_intent"] == body["payment"]["payment_intent"]

    fake_stripe.control(f"payment_intents/{body['payment']['payment_intent']}/succeed")
    (delivery,) = deliver()
    assert delivery["type"] == "payment_intent.succeeded"
    assert post_delivery(delivery).json()["duplicate"] is True  # Stripe delivering it again

    # then it is installed and the ledger holds one sale, split to the cent
    installed = power_client.post(f"{PLUGINS}/acme.notes/install", {}, format="json")
    assert installed.status_code == 200 and installed.json()["download_url"]
    (sale,) = LedgerEntry.objects.all()
    assert (sale.kind, sale.gross_cents, sale.fee_cents, sale.publisher_cents) == (
        "sale", price, fee, share,
    )  # fmt: skip
    assert sale.settled  # the share went to the publisher with the charge
    earnings = publisher_earnings(connected.client)
    assert (earnings["gross_cents"], earnings["platform_fee_cents"]) == (price, fee)
    assert (earnings["publisher_cents"], earnings["settled_cents"]) == (share, share)
    assert earnings["payout_cents"] == 0


def publisher_earnings(client) -> dict:
    answer = client.get(f"{MARKETPLACE}/earnings", {"period": period_of(timezone.now())})
    assert answer.status_code == 200, answer.content
    return answer.json()


def test_a_refund_revokes_the_install_and_reverses_the_ledger(
    connected, publish, power_client, fake_stripe, deliver
):
    connected.finish()
    publish(manifest_of(price_cents=999))
    body = payment_started(fake_stripe, power_client, "acme.notes")
    fake_stripe.control(f"payment_intents/{body['payment']['payment_intent']}/succeed")
    deliver()
    url = power_client.post(f"{PLUGINS}/acme.notes/install", {}, format="json").json()
    installation = Installation.objects.get()

    # when the operator refunds it and Stripe reports the refund
    refund = installation_refund(installation_id=installation.pk)
    (request,) = [r for r in fake_stripe.requests() if r["path"] == "/v1/refunds"]
    assert request["params"]["reverse_transfer"] == "true"
    assert request["params"]["refund_application_fee"] == "true"
    (delivery,) = deliver()
    assert delivery["type"] == "refund.created"

    # then the installation is revoked, its link dead, and the ledger nets to zero
    installation.refresh_from_db()
    assert installation.status == "revoked"
    assert APIClient().get(urlsplit(url["download_url"]).path).status_code == 403
    reversal = LedgerEntry.objects.get(kind="refund")
    assert reversal.stripe_object_id == refund["id"]
    assert (reversal.gross_cents, reversal.fee_cents, reversal.publisher_cents) == (
        -999,
        -299,
        -700,
    )
    earnings = publisher_earnings(connected.client)
    assert (earnings["gross_cents"], earnings["publisher_cents"], earnings["refunds"]) == (0, 0, 1)
    assert power_client.get(f"{PLUGINS}/acme.notes").json()["install_count"] == 0
    # installing again is a new payment
    assert (
        payment_started(fake_stripe, power_client, "acme.notes")["payment"]["payment_intent"]
        != (body["payment"]["payment_intent"])
    )


def test_the_monthly_payout_pays_unsettled_shares_once(
    connected, publish, power_client, fake_stripe, deliver
):
    # given sales made before the publisher could take charges: the platform charged alone
    publish(manifest_of(price_cents=999))
    body = payment_started(fake_stripe, power_client, "acme.notes")
    fake_stripe.control(f"payment_intents/{body['payment']['payment_intent']}/succeed")
    (request,) = _intent_requests(fake_stripe)
    assert "transfer_data" not in request and "application_fee_amount" not in request
    deliver()
    sale = LedgerEntry.objects.get()
    assert (sale.publisher_cents, sale.settled) == (700, False)
    period = sale.period
    assert payouts_run(period) == 0  # payouts not enabled yet: nothing is paid
    connected.finish()

    # when the payout runs twice
    assert payouts_run(period) == 1
    assert payouts_run(period) == 0

    # then one transfer of the unsettled share reached the publisher's account
    transfers = [r for r in fake_stripe.requests() if r["path"] == "/v1/transfers"]
    assert len(transfers) == 1
    assert transfers[0]["params"]["amount"] == "700"
    assert transfers[0]["params"]["destination"] == connected.id
    payout = Payout.objects.get()
    assert (payout.status, payout.amount_cents, payout.period) == ("paid", 700, period)
    assert payout.transfer_id.startswith("tr_")
    earnings = publisher_earnings(connected.client)
    assert (earnings["payout_cents"], earnings["payout_status"]) == (700, "paid")


def test_an_older_payment_of_the_same_installation_still_grants_it(
    connected, publish, power_client, fake_stripe, deliver
):
    # given a payment started, then the price changed and the buyer started a second one
    connected.finish()
    publish(manifest_of(price_cents=999))
    first = payment_started(fake_stripe, power_client, "acme.notes")["payment"]["payment_intent"]
    publish(manifest_of(version="1.1.0", price_cents=1999))
    second = payment_started(fake_stripe, power_client, "acme.notes")["payment"]["payment_intent"]
    assert first != second

    # when the first one is paid after all
    fake_stripe.control(f"payment_intents/{first}/succeed")
    deliver()

    # then what Stripe took is recorded and the installation granted (and refundable)
    installation = Installation.objects.get()
    assert (installation.status, installation.payment_intent_id) == ("active", first)
    assert LedgerEntry.objects.get().gross_cents == 999
    installation_refund(installation_id=installation.pk)
    deliver()
    installation.refresh_from_db()
    assert installation.status == "revoked"


def test_a_one_cent_refund_is_split_like_a_sale(
    connected, publish, power_client, fake_stripe, deliver
):
    connected.finish()
    publish(manifest_of(price_cents=999))
    intent = payment_started(fake_stripe, power_client, "acme.notes")["payment"]["payment_intent"]
    fake_stripe.control(f"payment_intents/{intent}/succeed")
    deliver()

    installation_refund(installation_id=Installation.objects.get().pk, amount_cents=1)
    deliver()

    refund = LedgerEntry.objects.get(kind="refund")
    assert (refund.gross_cents, refund.fee_cents, refund.publisher_cents) == (-1, 0, -1)
    earnings = publisher_earnings(connected.client)
    assert (earnings["gross_cents"], earnings["platform_fee_cents"]) == (998, 299)
    assert earnings["publisher_cents"] == 699


def test_a_refund_after_buying_again_is_split_against_the_newer_sale(
    connected, publish, power_client, fake_stripe, deliver
):
    # The installation is the same row: the first sale's refunds are not the second's.
    connected.finish()
    publish(manifest_of(price_cents=999))
    for _ in range(2):
        intent = payment_started(fake_stripe, power_client, "acme.notes")["payment"][
            "payment_intent"
        ]
        fake_stripe.control(f"payment_intents/{intent}/succeed")
        deliver()
        installation_refund(
            installation_id=Installation.objects.get().pk,
            amount_cents=None if LedgerEntry.objects.count() == 1 else 1,
        )
        deliver()

    last = LedgerEntry.objects.filter(kind="refund").order_by("occurred_at").last()
    assert (last.gross_cents, last.fee_cents, last.publisher_cents) == (-1, 0, -1)
