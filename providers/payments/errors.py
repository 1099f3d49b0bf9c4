class PaymentsError(Exception):
    """Stripe refused or could not be reached; ``message`` is safe to show (no keys)."""


class PaymentsUnavailable(PaymentsError):
    """Stripe did not answer, answered 5xx, or refused our key."""


class PaymentsRefused(PaymentsError):
    """Stripe answered 4xx to a request (bad parameter, declined card)."""


class PaymentsObjectMissing(PaymentsRefused):
    """The object does not exist at Stripe (``resource_missing``)."""


class PaymentsSignatureInvalid(PaymentsError):
    """A webhook delivery's ``Stripe-Signature`` does not match, or is too old."""
