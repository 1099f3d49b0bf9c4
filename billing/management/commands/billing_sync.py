"""Create or update the Stripe products and monthly prices of the paid tiers (by lookup key).

Run it once after setting STRIPE_SECRET_KEY, and again whenever billing/tiers.py changes a
price: it is idempotent, and a changed amount becomes a new price that takes the lookup key
over (existing subscriptions keep the price they pay until they change).
"""

from billing import services
from billing.management.base import BillingCommand


class Command(BillingCommand):
    help = "Create or update the Stripe products and prices of the paid tiers."

    def run(self, **options) -> None:
        for row in services.prices_sync():
            amount = f"EUR {row['amount'] / 100:.2f}/month"
            self.stdout.write(f"{row['tier']:<6} {row['price']}  {amount}  {row['action']}")
        self.stdout.write(self.style.SUCCESS("Stripe prices are in sync."))
