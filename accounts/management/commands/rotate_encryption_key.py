"""Re-encrypt every stored secret under the newest key of ENCRYPTION_KEYS.

Add the new key at the front of ENCRYPTION_KEYS (keep the old ones after it), deploy, run this,
then drop the old keys. Safe to interrupt and re-run: it only touches what is not yet moved.
"""

from django.core.management.base import BaseCommand
from tqdm import tqdm

from accounts import crypto, services


class Command(BaseCommand):
    help = "Re-encrypt stored provider keys and second-factor secrets with the newest key."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--batch-size", type=int, default=200)

    def handle(self, *args, batch_size: int, **options) -> None:
        pending = services.provider_keys_pending_rotation()
        pending += services.mfa_secrets_pending_rotation()
        primary = crypto.key_ring().primary_id
        if not pending:
            self.stdout.write(f"Every secret is already under key '{primary}'.")
            return
        with tqdm(total=pending, unit="secret", desc=f"to key '{primary}'") as bar:
            moved = sum(
                rotate(batch_size=batch_size, progress=bar.update)
                for rotate in (services.provider_keys_rotate, services.mfa_secrets_rotate)
            )
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {moved} secret(s) under '{primary}'."))
