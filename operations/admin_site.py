"""The operator console: Django's admin site whose index page opens on the dashboard."""

from django.conf import settings
from django.contrib.admin import AdminSite
from django.http import HttpRequest
from django.template.response import TemplateResponse

from operations.charts import bar_chart
from operations.selectors import dashboard_overview


class OperationsAdminSite(AdminSite):
    site_header = "Engram operations"
    site_title = "Engram operations"
    index_title = "Operator console"

    def index(self, request: HttpRequest, extra_context: dict | None = None) -> TemplateResponse:
        """Staff only, like every admin page (``admin_view`` redirects anyone else to log in)."""
        overview = dashboard_overview()
        charts = {
            name: bar_chart(series, label=label)
            for name, label, series in (
                ("new_users", "New users per day", overview["users"]["new_per_day"]),
                ("active_users", "Active users per day", overview["users"]["active_per_day"]),
                ("memories", "Memories created per day", overview["memories"]["per_day"]),
                ("turns", "Chat turns per day", overview["chat"]["turns_per_day"]),
                ("tokens", "LLM tokens per day", overview["chat"]["tokens_per_day"]),
                ("cost", "LLM cost per day (USD)", overview["chat"]["cost_per_day"]),
            )
        }
        context = {
            "dashboard": overview,
            "charts": charts,
            "cache_seconds": settings.DASHBOARD_CACHE_SECONDS,
            **(extra_context or {}),
        }
        return super().index(request, extra_context=context)
