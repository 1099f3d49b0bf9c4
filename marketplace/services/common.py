"""What the marketplace's services share: the tier gate."""

from accounts.models import User
from billing.tiers import PAID_TIERS, TIERS, allowance
from core.errors import QuotaExceeded


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
