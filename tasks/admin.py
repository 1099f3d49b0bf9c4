from django.contrib import admin

from core.admin_mixins import ListedByIdMixin, shortened
from tasks.models import Project, RecurrenceRule, Task, XpEntry


@admin.register(Task)
class TaskAdmin(ListedByIdMixin, admin.ModelAdmin):
    """Statuses and numbers in the list; a task's text only on its own page (it is the user's)."""

    list_display = (
        shortened("id"),
        shortened("user", length=20),
        "status",
        "priority",
        "difficulty",
        "source",
        "due_at",
        "created_at",
    )
    list_filter = ("status", "priority", "source", "quest_type", "is_ai_suggested", "is_approved")
    search_fields = ("user__email", "=id")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    raw_id_fields = ("user", "project", "parent", "recurrence")


@admin.register(Project)
class ProjectAdmin(ListedByIdMixin, admin.ModelAdmin):
    list_display = (shortened("id"), shortened("user", length=20), "is_archived", "created_at")
    list_filter = ("is_archived",)
    search_fields = ("user__email", "=id")
    list_select_related = ("user",)
    ordering = ("-created_at",)
    raw_id_fields = ("user",)


@admin.register(RecurrenceRule)
class RecurrenceRuleAdmin(ListedByIdMixin, admin.ModelAdmin):
    list_display = (
        shortened("id"),
        shortened("user", length=20),
        shortened("rrule", length=24),
        shortened("time_zone", length=16),
        "is_active",
        "generated_until",
        "created_at",
    )
    list_filter = ("is_active",)
    search_fields = ("user__email", "=id")
    list_select_related = ("user",)
    ordering = ("-created_at",)
    raw_id_fields = ("user", "project")


@admin.register(XpEntry)
class XpEntryAdmin(admin.ModelAdmin):
    list_display = (
        shortened("id"),
        shortened("user", length=20),
        "kind",
        "amount",
        "completion",
        "created_at",
    )
    list_filter = ("kind",)
    search_fields = ("user__email",)
    list_select_related = ("user",)
    ordering = ("-created_at",)
    raw_id_fields = ("user", "task")
