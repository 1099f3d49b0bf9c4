from typing import Any

from django.core.management.base import BaseCommand, CommandError

from core.errors import EngramError


class BillingCommand(BaseCommand):
    """A billing command: a refusal (billing off, Stripe unreachable) is a CommandError that
    says why, not a traceback."""

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            self.run(**options)
        except EngramError as exc:
            raise CommandError(exc.message) from None

    def run(self, **options: Any) -> None:
        raise NotImplementedError
