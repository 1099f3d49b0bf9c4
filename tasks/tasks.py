"""Background work of tasks: the periodic generation of recurring tasks' occurrences, and the
periodic suggestions for the users who were active lately."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from core.errors import ServiceUnavailable
from core.tasks import enqueue_or_leave
from memories.selectors import memory_authors_since
from tasks import intelligence, services
from tasks.models import RecurrenceRule

logger = logging.getLogger(__name__)
RULES_PER_RUN = 500


@shared_task(name="tasks.recurrences_generate", ignore_result=True)
def recurrences_generate() -> None:
    """Create the occurrences of every active rule whose horizon is behind (periodic). Picked by
    state and safe to run twice or alongside another run: an occurrence is unique per rule and
    date, and a rule done here is no longer behind, so a full batch re-enqueues the rest."""
    now = timezone.now()
    behind = now + timedelta(days=settings.TASKS_RECURRENCE_HORIZON_DAYS) - timedelta(hours=1)
    rules = list(
        RecurrenceRule.objects.filter(is_active=True)
        .filter(Q(generated_until__isnull=True) | Q(generated_until__lt=behind))
        .order_by("generated_until")[:RULES_PER_RUN]
    )
    for rule in rules:
        try:
            services.recurrence_generate(rule=rule, now=now)
        except Exception:
            # One broken rule must not hold back everyone else's.
            logger.exception("Could not generate the occurrences of rule %s", rule.pk)
    if len(rules) == RULES_PER_RUN:
        # More rules are behind; if the broker cannot take this, the next beat carries on.
        enqueue_or_leave("tasks.recurrences_generate")


@shared_task(name="tasks.suggestions_sweep", ignore_result=True)
def suggestions_sweep() -> None:
    """Propose tasks for every user who saved a memory in the last
    TASKS_SUGGESTION_ACTIVE_HOURS (periodic): one ``tasks.suggestions_propose`` each. Nothing
    when TASKS_SUGGESTION_MODEL is empty. Safe to run twice: each user's run keeps under the cap
    of pending drafts and leaves out what is already open."""
    if not settings.TASKS_SUGGESTION_MODEL or settings.TASKS_SUGGESTION_ACTIVE_HOURS <= 0:
        return
    since = timezone.now() - timedelta(hours=settings.TASKS_SUGGESTION_ACTIVE_HOURS)
    for user_id in memory_authors_since(since=since):
        # A user the broker could not take now is proposed to at the next beat.
        enqueue_or_leave("tasks.suggestions_propose", str(user_id))


@shared_task(name="tasks.suggestions_propose", ignore_result=True, soft_time_limit=120)
def suggestions_propose(user_id: str) -> None:
    """Propose tasks to one user (``intelligence.tasks_suggest``: the cap of pending drafts and
    the dedupe against open tasks hold). Silent when no model is usable for them."""
    # Once per interval per user, however many beats (or restarts) send it: a model call costs.
    interval = int(3600 * settings.TASKS_SUGGESTION_INTERVAL_HOURS) - 60
    if not cache.add(f"tasks:suggestions-proposed:{user_id}", 1, timeout=max(interval, 60)):
        return
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        logger.info("User %s is gone or inactive; no suggestions", user_id)
        return
    try:
        drafts = intelligence.tasks_suggest(user=user)
    except ServiceUnavailable:
        return  # no model for this user: the explicit endpoint says so, the job stays quiet
    except Exception:
        # A provider failure stores nothing; the next beat asks again.
        logger.warning("Could not propose tasks to user %s", user_id, exc_info=True)
        return
    if drafts:
        logger.info("Proposed %d tasks to user %s", len(drafts), user_id)
