"""Background work of the operator console."""

from celery import shared_task

from operations.selectors import dashboard_overview


@shared_task(
    name="operations.dashboard_refresh", acks_late=True, time_limit=120, soft_time_limit=110
)
def dashboard_refresh() -> None:
    """Recompute the dashboard's numbers (beat runs it every ``DASHBOARD_CACHE_SECONDS``), so
    operators' page loads read them from the cache instead of scanning large tables. Safe to run
    twice: it only replaces a cached value."""
    dashboard_overview(refresh=True)
