"""Stripe's events for plugin purchases, handed over by billing's webhook
(``billing.signals.stripe_event_received``; connected in MarketplaceConfig.ready)."""

from typing import Any

from marketplace.services import installs


def stripe_event_handle(sender: Any, event: dict[str, Any], **kwargs: Any) -> None:
    obj = (event.get("data") or {}).get("object") or {}
    if event.get("type") == "payment_intent.succeeded":
        if installs.INSTALLATION_KEY in (obj.get("metadata") or {}):
            installs.payment_succeeded(intent=obj)
    elif event.get("type") == "refund.created" and obj.get("payment_intent"):
        installs.payment_refunded(refund=obj)
