"""The operator's view of agents: registered agents and playbooks (read-only, from code), and
recent runs with route, tools, timing and outcome (no message text is ever stored)."""

from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import path

from agents.models import AgentRun
from agents.plans import PLAYBOOKS
from agents.registry import registry
from core.admin_mixins import shortened


@admin.register(AgentRun)
class AgentRunAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        shortened("user", length=20),
        "route",
        "route_method",
        "tools",
        "milliseconds",
        "outcome",
        shortened("error_code", length=14),
    )
    list_filter = ("outcome", "mode", "route_method", "transport")
    search_fields = ("user__email",)
    list_select_related = ("user",)
    readonly_fields = [f.name for f in AgentRun._meta.fields]
    change_list_template = "admin/agents/agentrun/change_list.html"

    @admin.display(description="agents")
    def route(self, run: AgentRun) -> str:
        return " → ".join(run.agents)

    @admin.display(description="tools called")
    def tools(self, run: AgentRun) -> str:
        return ", ".join(run.tools_called)

    @admin.display(description="ms (llm)", ordering="duration_ms")
    def milliseconds(self, run: AgentRun) -> str:
        # One column for both: nine columns did not fit a 1400-pixel screen.
        return f"{run.duration_ms} ({run.llm_ms})"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_urls(self):
        catalog = path(
            "catalog/",
            self.admin_site.admin_view(self.catalog_view),
            name="agents_agentrun_catalog",
        )
        return [catalog, *super().get_urls()]

    def catalog_view(self, request):
        """The registered agents with their tools, and the playbooks: read-only."""
        context = {
            **self.admin_site.each_context(request),
            "title": "Registered agents and playbooks",
            "agents": registry.all(),
            "playbooks": PLAYBOOKS.values(),
        }
        return TemplateResponse(request, "admin/agents/catalog.html", context)
