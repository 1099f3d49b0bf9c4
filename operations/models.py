"""What the operator console keeps of its own: snapshots of the API's request counters."""

from django.db import models


class ApiSnapshot(models.Model):
    """The API's cumulative request counters (summed over every web process by the metrics
    registry) at one moment, per endpoint group: the windows of the dashboard's API health are
    the differences between now and the snapshot at the window's start, as Prometheus'
    ``increase()`` would compute them."""

    taken_at = models.DateTimeField(db_index=True)
    # {group: {"requests", "server_errors", "client_errors", "buckets": {le: count}}} and
    # "rate_limit_refusals": the registry's totals, never a user's data.
    counters = models.JSONField()

    class Meta:
        ordering = ["-taken_at"]

    def __str__(self) -> str:
        return f"API counters at {self.taken_at:%Y-%m-%d %H:%M:%S}"
