import logging

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from core.admin_mixins import ListedByIdMixin, shortened
from memories import extraction, services
from memories.models import (
    ExtractionJob,
    Memory,
    MemoryHistory,
    MemorySummary,
    UserVectorIndex,
)

audit = logging.getLogger("engram.audit")


@admin.register(Memory)
class MemoryAdmin(ListedByIdMixin, admin.ModelAdmin):
    """Sizes and statuses in the list; a memory's text only on its own page, and each opening is
    logged with the operator's id (users' memories are theirs, not the operators')."""

    list_display = (
        shortened("id"),
        shortened("user", length=20),
        "provider",
        "source",
        "size_bytes",
        "embedding_status",
        "created_at",
    )
    list_filter = (
        "provider",
        "source",
        "embedding_status",
        ("user", admin.RelatedOnlyFieldListFilter),
    )
    search_fields = ("user__email", "=id")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    # The list never reads the text, however long the memories are.
    list_deferred = ("title", "prompt", "response", "content", "metadata", "search_vector")
    actions = ["reembed"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Memory]:
        memories = super().get_queryset(request)
        match = request.resolver_match
        if match is not None and match.url_name == "memories_memory_changelist":
            return memories.defer(*self.list_deferred)
        return memories

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        return [field.name for field in self.model._meta.fields if field.name != "search_vector"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        # Text changes go through the API, which keeps history and re-embeds.
        return False

    def change_view(self, request: HttpRequest, object_id: str, form_url="", extra_context=None):
        audit.info(
            "Operator %s opened memory %s", request.user.pk, object_id,
            extra={"operator_id": request.user.pk, "memory_id": object_id},
        )  # fmt: skip
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(description="Re-embed the selected memories")
    def reembed(self, request: HttpRequest, queryset: QuerySet[Memory]) -> None:
        count = services.memories_requeue(memory_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{count} memories queued for embedding.", messages.SUCCESS)


@admin.register(MemoryHistory)
class MemoryHistoryAdmin(admin.ModelAdmin):
    list_display = (
        shortened("memory_id"),
        "event",
        shortened("user", length=20),
        shortened("job_id", description="job"),
        "created_at",
    )
    ordering = ("-created_at",)
    list_filter = ("event",)
    search_fields = ("=memory_id", "user__email", "=job__id")
    list_select_related = ("user", "job")
    raw_id_fields = ("job",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(UserVectorIndex)
class UserVectorIndexAdmin(admin.ModelAdmin):
    list_display = (
        shortened("name", length=14),
        shortened("user", length=20),
        shortened("model", length=20),
        "status",
        "rows",
        "created_at",
        "updated_at",
    )
    ordering = ("-created_at",)
    list_filter = ("status", "model")
    search_fields = ("user__email", "name")
    list_select_related = ("user",)
    readonly_fields = ("name", "user", "model", "dimensions", "rows", "error")


@admin.register(MemorySummary)
class MemorySummaryAdmin(admin.ModelAdmin):
    list_display = (
        shortened("user", length=20),
        "memory_count",
        "generator",
        "stale",
        "computed_at",
    )
    ordering = ("-computed_at",)
    search_fields = ("user__email",)
    list_select_related = ("user",)


@admin.register(ExtractionJob)
class ExtractionJobAdmin(admin.ModelAdmin):
    """Extraction jobs, read-only: what each did, how long it took, why it failed."""

    list_display = (
        shortened("id"),
        shortened("user", length=20),
        "status",
        "trigger",
        "created_at",
        "duration_ms",
        "llm_ms",
        "operations_summary",
        shortened("error", length=60, prose=True),
    )
    list_filter = ("status", "trigger", "model", "prompt_version")
    search_fields = ("=id", "user__email", "error")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    actions = ["rerun"]

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        fields = [field.name for field in self.model._meta.fields if field.name != "run_token"]
        return [*fields, "duration_ms"]

    def get_exclude(self, request: HttpRequest, obj=None) -> list[str]:
        return ["run_token"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="operations")
    def operations_summary(self, job: ExtractionJob) -> str:
        """Applied decisions by event, e.g. ``ADD 2, UPDATE 1 (3 facts)``."""
        applied: dict[str, int] = {}
        for operation in job.operations:
            if operation.get("applied"):
                applied[operation["event"]] = applied.get(operation["event"], 0) + 1
        counts = ", ".join(f"{event} {count}" for event, count in sorted(applied.items()))
        return f"{counts or 'nothing applied'} ({len(job.facts)} facts)"

    @admin.action(description="Re-run the selected jobs (as new jobs)")
    def rerun(self, request: HttpRequest, queryset: QuerySet[ExtractionJob]) -> None:
        jobs = extraction.extraction_jobs_rerun(job_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{len(jobs)} extraction jobs queued.", messages.SUCCESS)
