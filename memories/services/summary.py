"""The user's memory summary, recomputed from their memories' facts."""

from django.utils import timezone

from accounts.models import User
from memories import summary
from memories.models import (
    MemorySummary,
)
from memories.selectors import memory_summary_facts
from memories.services.scheduling import summary_pending_clear

# --- Summary -------------------------------------------------------------------------------------


def summary_refresh(*, user: User) -> MemorySummary:
    """Recompute and store ``user``'s summary now."""
    summary_pending_clear(user_id=user.pk)
    facts = memory_summary_facts(user=user)
    generated = summary.generate(facts)
    stored, _ = MemorySummary.objects.update_or_create(
        user=user,
        defaults={
            "text": generated.text,
            "facts": facts,
            "generator": generated.generator,
            "memory_count": facts["memory_count"],
            "stale": False,
            "computed_at": timezone.now(),
        },
    )
    return stored
