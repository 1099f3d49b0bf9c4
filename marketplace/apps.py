from django.apps import AppConfig


class MarketplaceConfig(AppConfig):
    name = "marketplace"

    def ready(self) -> None:
        from billing.signals import stripe_event_received
        from marketplace.receivers import stripe_event_handle

        stripe_event_received.connect(stripe_event_handle, dispatch_uid="marketplace.stripe_events")
