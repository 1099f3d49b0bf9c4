import uuid

from django.conf import settings
from django.db import models


class DailyUsage(models.Model):
    """LLM usage summed per user per UTC day: what billing and quotas read."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="daily_usage"
    )
    day = models.DateField()
    requests = models.PositiveIntegerField(default=0)
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=6, default=0)

    class Meta:
        verbose_name_plural = "daily usage"
        constraints = [
            models.UniqueConstraint(fields=["user", "day"], name="one_usage_row_per_day")
        ]
        ordering = ["-day"]

    def __str__(self) -> str:
        return f"{self.user_id} {self.day}"
