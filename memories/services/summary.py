"""The user's memory summary: the extractive one recomputed from their memories' facts after
every change, and the one their model writes in the background when they changed enough."""

import logging

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from core.errors import EngramError
from llm.selectors import model_usable_check
from llm.services import complete_for_user
from memories import summary
from memories.models import Memory, MemorySummary
from memories.selectors import memory_summary_facts, memory_summary_get, memory_summary_sources
from memories.services.scheduling import summary_pending_clear, summary_write_schedule
from providers.llm import ProviderError

logger = logging.getLogger(__name__)
_SUMMARY_FIELDS = ("text", "facts", "generator", "memory_count", "stale", "computed_at")
_WRITTEN_DROPPED = {"written_text": "", "written_by": "", "written_at": None, "written_from": []}


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


def summary_model(user: User) -> str | None:
    """The model that writes ``user``'s profile: their default model, else
    MEMORY_SUMMARY_MODEL; None when there is none or they cannot use it (no key for it)."""
    model_id = user.default_model or settings.MEMORY_SUMMARY_MODEL
    if not model_id:
        return None
    try:
        return model_usable_check(
            user, model_id=model_id, purpose="the memory profile", setting="MEMORY_SUMMARY_MODEL"
        )
    except EngramError:
        return None


def summary_refresh(*, user: User) -> MemorySummary:
    """Recompute and store ``user``'s extractive summary now. When a memory the written one
    came from is gone, the written one is dropped (it may say what was deleted); when the rule
    (``summary.rewrite_due``) says so and a model is available, the model writes a new one
    in the background (``memories.write_summary``)."""
    summary_pending_clear(user_id=user.pk)
    computed = _computed(user)
    with transaction.atomic():
        stored, _ = MemorySummary.objects.select_for_update().update_or_create(
            user=user, defaults={name: getattr(computed, name) for name in _SUMMARY_FIELDS}
        )
        sources = stored.written_from
        if sources and Memory.objects.filter(pk__in=sources).count() < len(sources):
            MemorySummary.objects.filter(pk=stored.pk).update(**_WRITTEN_DROPPED)
            for name, value in _WRITTEN_DROPPED.items():
                setattr(stored, name, value)
        due = summary.rewrite_due(
            memory_count=stored.memory_count,
            has_written=bool(stored.written_text),
            changes=stored.changes_since_written,
            min_memories=settings.MEMORY_SUMMARY_MIN_MEMORIES,
            every=settings.MEMORY_SUMMARY_REWRITE_CHANGES,
        )
        if due and summary_model(user) is not None:
            summary_write_schedule(user_id=user.pk)
    return stored


def summary_write(*, user: User) -> MemorySummary | None:
    """Have ``user``'s model write their profile from their memories now, and store it with
    the model and the time; None when nothing was written (no model available to them, no
    stored summary yet, or the provider failed: the extractive one stays served). Safe to run
    twice: the changes it saw are subtracted, so changes made meanwhile still count."""
    stored = memory_summary_get(user=user)
    model_id = summary_model(user)
    if stored is None or model_id is None:
        return None
    seen_changes = stored.changes_since_written
    sources = memory_summary_sources(user=user, limit=settings.MEMORY_SUMMARY_SOURCES)
    if not sources:
        return None
    try:
        completion = complete_for_user(
            user=user,
            model_id=model_id,
            messages=summary.written_prompt(sources),
            max_tokens=summary.WRITTEN_MAX_TOKENS,
            options={"temperature": 0.2},
        )
    except (EngramError, ProviderError) as exc:
        logger.warning("The model could not write the profile of %s: %s", user.pk, exc)
        return None
    text = completion.text.strip()
    if not text:
        return None
    MemorySummary.objects.filter(pk=stored.pk).update(
        written_text=text,
        written_by=model_id,
        written_at=timezone.now(),
        written_from=[item["id"] for item in sources],
        changes_since_written=F("changes_since_written") - seen_changes,
    )
    return memory_summary_get(user=user)


def summary_current(*, user: User) -> MemorySummary:
    """``user``'s stored summary; before the first one is stored (it is scheduled by every
    write: ``summary_schedule``), one computed now and not stored. Writes nothing."""
    return memory_summary_get(user=user) or _computed(user)
