"""The revenue ledger and the monthly payouts.

Every paid install is a sale entry and every refund a negative one, split by
``marketplace.shares`` (the platform's 30% rounded down to the cent; a refund leaves what stays
sold split the same way). A sale made as
a destination charge is ``settled``: the publisher's share reached them with the charge, and a
refund reverses that transfer. What is not settled is paid once per publisher and month by
``payouts_run``: the (publisher, period) payout row is claimed before Stripe is called, and
the transfer carries an idempotency key of the same pair, so running it twice pays once.
"""

import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from marketplace.models import (
    Installation,
    LedgerEntry,
    LedgerKind,
    Payout,
    PayoutStatus,
    Publisher,
)
from marketplace.shares import period_of, split_fee, split_refund
from providers.payments import PaymentsError
from providers.payments import stripe_api as stripe

logger = logging.getLogger(__name__)


def _entry(
    *,
    installation: Installation,
    kind: str,
    split: tuple[int, int],
    settled: bool,
    stripe_id: str,
) -> bool:
    fee, share = split
    gross = fee + share
    now = timezone.now()
    try:
        with transaction.atomic():
            LedgerEntry.objects.create(
                publisher_id=installation.plugin.publisher_id,
                plugin_id=installation.plugin_id,
                installation=installation,
                kind=kind,
                gross_cents=gross,
                fee_cents=fee,
                publisher_cents=share,
                settled=settled,
                stripe_object_id=stripe_id,
                period=period_of(now),
                occurred_at=now,
            )
    except IntegrityError:
        return False  # recorded before: the same Stripe object is one entry
    return True


def sale_record(*, installation: Installation, intent: dict[str, Any]) -> bool:
    """Record the sale a succeeded PaymentIntent made; False when it was recorded before."""
    return _entry(
        installation=installation,
        kind=LedgerKind.SALE,
        split=split_fee(int(intent.get("amount_received") or intent["amount"])),
        settled=bool((intent.get("transfer_data") or {}).get("destination")),
        stripe_id=intent["id"],
    )


def sale_of(*, payment_intent_id: str) -> LedgerEntry | None:
    """The sale a PaymentIntent made, if it paid for a plugin."""
    return LedgerEntry.objects.filter(
        kind=LedgerKind.SALE, stripe_object_id=payment_intent_id
    ).first()


def refund_record(*, installation: Installation, refund: dict[str, Any], sale: LedgerEntry) -> bool:
    """Record a refund of ``sale`` as a negative entry; it is settled when the sale was
    (Stripe reverses the destination transfer with it). False when it was recorded before.
    Split against what was refunded of the sale before it: the caller holds the installation's
    row, so refunds of one sale are recorded one at a time (an installation bought again after
    a refund counts only the refunds since its newer sale)."""
    refunded = -(
        LedgerEntry.objects.filter(
            kind=LedgerKind.REFUND,
            installation_id=sale.installation_id,
            occurred_at__gte=sale.occurred_at,
        ).aggregate(total=Sum("gross_cents"))["total"]
        or 0
    )
    return _entry(
        installation=installation,
        kind=LedgerKind.REFUND,
        split=split_refund(sale.gross_cents, refunded, int(refund["amount"])),
        settled=sale.settled,
        stripe_id=refund["id"],
    )


# --- payouts -------------------------------------------------------------------------------------


def unsettled_cents(*, publisher_id: Any, period: str) -> int:
    entries = LedgerEntry.objects.filter(publisher_id=publisher_id, period=period, settled=False)
    return entries.aggregate(total=Sum("publisher_cents"))["total"] or 0


def _claim(publisher: Publisher, period: str, amount: int) -> Payout | None:
    """The payout row for (publisher, period), claimed for this run; None when another run
    paid it or is paying it."""
    try:
        with transaction.atomic():
            return Payout.objects.create(
                publisher=publisher, period=period, amount_cents=amount, status=PayoutStatus.CLAIMED
            )
    except IntegrityError:
        pass
    claimed = Payout.objects.filter(
        publisher=publisher, period=period, status=PayoutStatus.FAILED
    ).update(status=PayoutStatus.CLAIMED, amount_cents=amount, error="")
    return Payout.objects.get(publisher=publisher, period=period) if claimed else None


def payout_pay(*, publisher_id: Any, period: str) -> Payout | None:
    """Transfer the publisher's unsettled share of ``period`` to their Connect account, once.
    Answers the payout, or None when there is nothing to pay or it is paid already."""
    publisher = Publisher.objects.filter(pk=publisher_id).first()
    if publisher is None or not publisher.stripe_account_id or not publisher.payouts_enabled:
        return None
    amount = unsettled_cents(publisher_id=publisher.pk, period=period)
    if amount <= 0:
        return None
    payout = _claim(publisher, period, amount)
    if payout is None:
        return None
    try:
        transfer = stripe.transfer_create(
            amount=amount,
            currency="eur",
            destination=publisher.stripe_account_id,
            metadata={"engram_publisher": str(publisher.pk), "period": period},
            idempotency_key=f"engram-payout-{publisher.pk}-{period}",
        )
    except PaymentsError as exc:
        logger.warning("Payout %s %s failed: %s", publisher.namespace, period, exc)
        Payout.objects.filter(pk=payout.pk).update(status=PayoutStatus.FAILED, error=str(exc))
        payout.refresh_from_db()
        return payout
    Payout.objects.filter(pk=payout.pk).update(status=PayoutStatus.PAID, transfer_id=transfer["id"])
    payout.refresh_from_db()
    logger.info("Paid %s cents to %s for %s", amount, publisher.namespace, period)
    return payout


def payouts_run(*, period: str) -> int:
    """Pay every publisher with an unsettled share in ``period``; answers how many were paid
    now. Safe to run any number of times."""
    publisher_ids = (
        LedgerEntry.objects.filter(period=period, settled=False)
        .values_list("publisher_id", flat=True)
        .distinct()
    )
    paid = 0
    for publisher_id in list(publisher_ids):
        payout = payout_pay(publisher_id=publisher_id, period=period)
        paid += payout is not None and payout.status == PayoutStatus.PAID
    return paid
