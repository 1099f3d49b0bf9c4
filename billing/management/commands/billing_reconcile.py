"""Re-read every customer's subscriptions from Stripe and fix tiers that drifted (a missed
webhook, a tier edited by hand). Safe to re-run and to interrupt."""

from tqdm import tqdm

from billing import selectors, services
from billing.management.base import BillingCommand


class Command(BillingCommand):
    help = "Re-read every subscription from Stripe and fix users' tiers."

    def run(self, **options) -> None:
        total = len(selectors.customers_with_users())
        with tqdm(total=total, unit="customer", file=self.stderr) as bar:
            changed = services.subscriptions_reconcile(progress=bar.update)
        self.stdout.write(
            self.style.SUCCESS(f"Checked {total} customer(s); {changed} tier(s) fixed.")
        )
