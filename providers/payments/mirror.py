"""dj-stripe's mirror of Stripe objects, written only from what Stripe answered.

dj-stripe's ``sync_from_stripe_data`` retrieves related objects from Stripe on its own (a
subscription's customer, an item's price and product), so it runs here, where Stripe's errors
are translated, and after ``configure()`` pointed the client at ``STRIPE_API_BASE``.
"""

from typing import Any

from djstripe import models as djstripe_models

from providers.payments.stripe_api import StripeData, configure, translated_errors

_MODELS: dict[str, type[djstripe_models.StripeModel]] = {
    "customer": djstripe_models.Customer,
    "product": djstripe_models.Product,
    "price": djstripe_models.Price,
    "subscription": djstripe_models.Subscription,
    "invoice": djstripe_models.Invoice,
    "checkout.session": djstripe_models.Session,
}


def mirror_sync(data: StripeData) -> Any:
    """Write (or update) the dj-stripe row of one Stripe object; answer the row."""
    key = configure()
    model = _MODELS[data["object"]]
    # dj-stripe walks nested lists (a subscription's items, an invoice's lines) as the client's
    # objects, so the plain dict becomes one again.
    stripe_object = model.stripe_class.construct_from(data, key)
    with translated_errors():
        return model.sync_from_stripe_data(stripe_object, api_key=key)


def event_record(event: StripeData) -> bool:
    """Store a verified event and run dj-stripe's handlers for it (which re-read its object from
    Stripe). Answer False when the event was stored before: each event is processed once."""
    key = configure()
    if djstripe_models.Event.objects.filter(id=event["id"]).exists():
        return False
    with translated_errors():
        djstripe_models.Event.process(event, api_key=key)
    return True
