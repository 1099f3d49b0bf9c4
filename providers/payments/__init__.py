"""Payments through Stripe: the one place the ``stripe`` SDK is imported.

Functions answer Stripe objects as plain dicts (what dj-stripe's ``sync_from_stripe_data``
takes) and raise ``PaymentsError`` subclasses, never HTTP errors.
"""

from providers.payments.errors import (
    PaymentsError,
    PaymentsObjectMissing,
    PaymentsRefused,
    PaymentsSignatureInvalid,
    PaymentsUnavailable,
)

__all__ = [
    "PaymentsError",
    "PaymentsObjectMissing",
    "PaymentsRefused",
    "PaymentsSignatureInvalid",
    "PaymentsUnavailable",
]
