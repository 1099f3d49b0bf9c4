"""Background work of tasks: the periodic generation of recurring tasks' occurrences."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from core.tasks import enqueue_or_leave
from tasks import services
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
