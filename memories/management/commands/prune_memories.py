import uuid
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from accounts.models import User
from memories import services


def _moment(value: str) -> datetime:
    moment = parse_datetime(value)
    if moment is None and (day := parse_date(value)) is not None:
        moment = datetime(day.year, day.month, day.day)
    if moment is None:
        raise CommandError(f"--before {value!r} is not a date (YYYY-MM-DD) or ISO datetime.")
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment, UTC)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class Command(BaseCommand):
    help = "Delete a user's memories created before a date (with --dry-run, only count them)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--user", required=True, help="The user's email or id.")
        parser.add_argument("--before", required=True, help="YYYY-MM-DD or an ISO datetime.")
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args, user: str, before: str, dry_run: bool, **options) -> None:
        moment = _moment(before)
        owner = User.objects.filter(email__iexact=user).first()
        if owner is None and _is_uuid(user):
            owner = User.objects.filter(pk=user).first()
        if owner is None:
            raise CommandError(f"No user {user!r}.")
        count = services.memories_prune(user=owner, before=moment, dry_run=dry_run)
        verb = "Would delete" if dry_run else "Deleted"
        self.stdout.write(f"{verb} {count} memories of {owner.email} created before {moment}.")
