from decimal import Decimal

from django.db.models import F
from django.utils import timezone

from billing.models import DailyUsage


def usage_record(*, user_id, prompt_tokens: int, completion_tokens: int, cost_usd: Decimal) -> None:
    """Add one LLM call to the user's usage for today (UTC); safe under concurrency."""
    day = timezone.now().date()
    DailyUsage.objects.bulk_create([DailyUsage(user_id=user_id, day=day)], ignore_conflicts=True)
    DailyUsage.objects.filter(user_id=user_id, day=day).update(
        requests=F("requests") + 1,
        prompt_tokens=F("prompt_tokens") + prompt_tokens,
        completion_tokens=F("completion_tokens") + completion_tokens,
        cost_usd=F("cost_usd") + cost_usd,
    )
