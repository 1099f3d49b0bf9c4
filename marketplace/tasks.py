"""The monthly publisher payouts (declared in CELERY_BEAT_SCHEDULE)."""

import logging

from celery import shared_task
from django.utils import timezone

from marketplace.services import revenue
from marketplace.shares import previous_period

logger = logging.getLogger(__name__)


@shared_task(name="marketplace.payouts_run", time_limit=900, soft_time_limit=870)
def payouts_run(period: str | None = None) -> int:
    """Pay publishers their unsettled share of ``period`` (default: last month). Each
    (publisher, period) is paid once however often this runs, so beat runs it daily."""
    period = period or previous_period(timezone.now())
    paid = revenue.payouts_run(period=period)
    if paid:
        logger.info("Marketplace payouts for %s: %d publisher(s) paid", period, paid)
    return paid
