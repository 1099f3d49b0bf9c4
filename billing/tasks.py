"""Periodic billing work (declared in CELERY_BEAT_SCHEDULE)."""

import logging

from celery import shared_task

from billing import services

logger = logging.getLogger(__name__)


@shared_task(name="billing.grace_sweep", time_limit=300, soft_time_limit=270)
def grace_sweep() -> int:
    """Move users whose past_due grace period has ended back to the default tier, even when no
    webhook arrives. Reads only the mirror; safe to run at any time and twice."""
    changed = services.grace_expire()
    if changed:
        logger.info("Grace periods ended: %d user(s) changed tier", changed)
    return changed
