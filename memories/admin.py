from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from memories import services
from memories.models import Memory, MemoryHistory, MemorySummary, UserVectorIndex


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
    list_display = ("memory_id", "event", "user", "created_at")
    list_filter = ("event",)
    search_fields = ("=memory_id", "user__email")
    list_select_related = ("user",)

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
