"""What the marketplace's services share: Stripe calls with our errors, and the tier gate."""

from collections.abc import Callable
from typing import Any

from accounts.models import User
from billing.tiers import PAID_TIERS, TIERS, allowance
from core.errors import QuotaExceeded, ServiceUnavailable, ValidationFailed
from providers.payments import PaymentsError, PaymentsRefused

STRIPE_UNAVAILABLE = "Stripe could not be reached; try again shortly."


def stripe_call(call: Callable[..., Any], **params: Any) -> Any:
    """``call(**params)`` on Stripe: a refusal is a 400, Stripe failing is a 503."""
    try:
        return call(**params)
    except PaymentsRefused as exc:
        raise ValidationFailed(str(exc), details={"stripe": [str(exc)]}) from None
    except PaymentsError as exc:
        raise ServiceUnavailable(STRIPE_UNAVAILABLE, details={"reason": str(exc)}) from None


def marketplace_tiers() -> list[str]:
    return [str(tier) for tier in PAID_TIERS if TIERS[tier].plugin_marketplace]


def install_allowed(user: User) -> None:
    """Refuse (403 QUOTA_EXCEEDED, naming the user's tier and the tiers that may) a user whose
    tier does not include installing plugins."""
    if allowance(user, "plugin_marketplace").allowed:
        return
    tiers = marketplace_tiers()
    raise QuotaExceeded(
        f"Installing plugins is not part of the {user.tier} tier: upgrade to {' or '.join(tiers)}.",
        details={"feature": "plugin_marketplace", "tier": user.tier, "allowed_tiers": tiers},
    )
