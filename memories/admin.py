from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from memories import extraction, services
from memories.models import (
    ExtractionJob,
    Memory,
    MemoryHistory,
    MemorySummary,
    UserVectorIndex,
)


@admin.register(Memory)
class MemoryAdmin(admin.ModelAdmin):
    list_display = ("short_text", "user", "provider", "source", "embedding_status", "created_at")
    list_filter = (
        "provider",
        "source",
        "embedding_status",
        ("user", admin.RelatedOnlyFieldListFilter),
    )
    search_fields = ("title", "content", "user__email", "=id")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    date_hierarchy = "created_at"
    readonly_fields = (
        "near_duplicate_of",
        "content_hash",
        "size_bytes",
        "embedding_status",
        "embedding_model",
        "embedding_error",
        "embedded_at",
        "created_at",
        "updated_at",
    )
    actions = ["reembed"]

    @admin.display(description="memory")
    def short_text(self, memory: Memory) -> str:
        return str(memory)[:80]

    @admin.action(description="Re-embed the selected memories")
    def reembed(self, request: HttpRequest, queryset: QuerySet[Memory]) -> None:
        count = services.memories_requeue(memory_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{count} memories queued for embedding.", messages.SUCCESS)


@admin.register(MemoryHistory)
class MemoryHistoryAdmin(admin.ModelAdmin):
    list_display = ("memory_id", "event", "user", "job", "created_at")
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
    list_display = ("name", "user", "model", "status", "rows", "updated_at")
    list_filter = ("status", "model")
    search_fields = ("user__email", "name")
    list_select_related = ("user",)
    readonly_fields = ("name", "user", "model", "dimensions", "rows", "error")


@admin.register(MemorySummary)
class MemorySummaryAdmin(admin.ModelAdmin):
    list_display = ("user", "memory_count", "generator", "stale", "computed_at")
    search_fields = ("user__email",)
    list_select_related = ("user",)


@admin.register(ExtractionJob)
class ExtractionJobAdmin(admin.ModelAdmin):
    """Extraction jobs, read-only: what each did, how long it took, why it failed."""

    list_display = (
        "id",
        "user",
        "status",
        "trigger",
        "created_at",
        "duration_ms",
        "llm_ms",
        "operations_summary",
        "short_error",
    )
    list_filter = ("status", "trigger", "model", "prompt_version")
    search_fields = ("=id", "user__email", "error")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
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

    @admin.display(description="error")
    def short_error(self, job: ExtractionJob) -> str:
        return job.error[:120]

    @admin.action(description="Re-run the selected jobs (as new jobs)")
    def rerun(self, request: HttpRequest, queryset: QuerySet[ExtractionJob]) -> None:
        jobs = extraction.extraction_jobs_rerun(job_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{len(jobs)} extraction jobs queued.", messages.SUCCESS)
