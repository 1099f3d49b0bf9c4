"""The arithmetic of the revenue share, as pure functions: how a payment splits between the
platform and the publisher, and which month an entry belongs to."""

from datetime import datetime

# The platform's share of every paid install; the publisher keeps the rest.
PLATFORM_FEE_PERCENT = 30


def split_fee(gross_cents: int, fee_percent: int = PLATFORM_FEE_PERCENT) -> tuple[int, int]:
    """``(platform fee, publisher share)`` of ``gross_cents``. The fee is rounded down to the
    cent (``floor(gross * 30 / 100)``), so the publisher never gets a cent less than 70%; a
    refund (negative) mirrors its sale exactly."""
    sign = -1 if gross_cents < 0 else 1
    fee = sign * (abs(gross_cents) * fee_percent // 100)
    return fee, gross_cents - fee


def period_of(moment: datetime) -> str:
    """``YYYY-MM`` of ``moment`` (UTC)."""
    return f"{moment.year:04d}-{moment.month:02d}"


def previous_period(moment: datetime) -> str:
    year, month = (moment.year - 1, 12) if moment.month == 1 else (moment.year, moment.month - 1)
    return f"{year:04d}-{month:02d}"
