from django.contrib import admin
from django.http import HttpRequest

from billing.models import DailyUsage


@admin.register(DailyUsage)
class DailyUsageAdmin(admin.ModelAdmin):
    """LLM usage per user per day, as chat recorded it (read-only)."""

    list_display = ("day", "user", "requests", "prompt_tokens", "completion_tokens", "cost_usd")
    search_fields = ("user__email",)
    list_filter = ("day",)
    list_select_related = ("user",)
    date_hierarchy = "day"
    ordering = ("-day", "-cost_usd")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
