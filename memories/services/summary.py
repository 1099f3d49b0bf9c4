"""The user's memory summary, recomputed from their memories' facts."""

from django.utils import timezone

from accounts.models import User
from memories import summary
from memories.models import (
    MemorySummary,
)
from memories.selectors import memory_summary_facts, memory_summary_get
from memories.services.scheduling import summary_pending_clear

# --- Summary -------------------------------------------------------------------------------------


def _computed(user: User) -> MemorySummary:
    facts = memory_summary_facts(user=user)
    generated = summary.generate(facts)
    return MemorySummary(
        user=user,
        text=generated.text,
        facts=facts,
        generator=generated.generator,
        memory_count=facts["memory_count"],
        stale=False,
        computed_at=timezone.now(),
    )


def summary_refresh(*, user: User) -> MemorySummary:
    """Recompute and store ``user``'s summary now."""
    summary_pending_clear(user_id=user.pk)
    computed = _computed(user)
    stored, _ = MemorySummary.objects.update_or_create(
        user=user,
        defaults={
            name: getattr(computed, name)
            for name in ("text", "facts", "generator", "memory_count", "stale", "computed_at")
        },
    )
    return stored


def summary_current(*, user: User) -> MemorySummary:
    """``user``'s stored summary; before the first one is stored (it is scheduled by every
    write: ``summary_schedule``), one computed now and not stored. Writes nothing."""
    return memory_summary_get(user=user) or _computed(user)
