"""What billing tells the apps above it. Billing imports none of them: an app that acts on
Stripe's events (the marketplace: plugin payments and refunds) connects a receiver in its
AppConfig.ready."""

from django.dispatch import Signal

# Sent once per Stripe event (``event``: the verified event, a dict), after its signature was
# checked and it was recorded, inside the transaction that records it: a receiver that raises
# rolls the record back, the webhook fails, and Stripe delivers the event again.
stripe_event_received = Signal()
