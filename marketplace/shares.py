"""The arithmetic of the revenue share, as pure functions: how a payment splits between the
platform and the publisher, and which month an entry belongs to."""

from datetime import datetime

# The platform's share of every paid install; the publisher keeps the rest.
PLATFORM_FEE_PERCENT = 30


def split_fee(gross_cents: int, fee_percent: int = PLATFORM_FEE_PERCENT) -> tuple[int, int]:
    """``(platform fee, publisher share)`` of a sale of ``gross_cents``. The fee is rounded
    down to the cent (``floor(gross * 30 / 100)``), so the publisher never gets a cent less than
    70%."""
    fee = gross_cents * fee_percent // 100
    return fee, gross_cents - fee


def split_refund(
    sale_cents: int, refunded_cents: int, refund_cents: int, fee_percent: int = PLATFORM_FEE_PERCENT
) -> tuple[int, int]:
    """``(fee, share)``, both negative or zero, of a refund of ``refund_cents`` from a sale of
    ``sale_cents`` of which ``refunded_cents`` were refunded before. What stays sold keeps the
    split a sale of it would have, so refunds in any number of parts leave the fee and the share
    of the remainder exactly, and a full refund nets both to zero (each part split on its own
    rounded down every time: a 999-cent sale refunded in three parts left the platform 2 cents
    and the publisher -2)."""
    fee_before, _ = split_fee(sale_cents - refunded_cents, fee_percent)
    fee_after, _ = split_fee(sale_cents - refunded_cents - refund_cents, fee_percent)
    fee = fee_after - fee_before
    return fee, -refund_cents - fee


def period_of(moment: datetime) -> str:
    """``YYYY-MM`` of ``moment`` (UTC)."""
    return f"{moment.year:04d}-{moment.month:02d}"


def previous_period(moment: datetime) -> str:
    year, month = (moment.year - 1, 12) if moment.month == 1 else (moment.year, moment.month - 1)
    return f"{year:04d}-{month:02d}"
