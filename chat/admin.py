"""Threads and messages for operators: sizes, statuses and costs; a message's text only on its
own page, folded."""

from django.contrib import admin
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.utils.html import format_html

from chat.models import Message, Thread
from core.admin_mixins import ListedByIdMixin, shortened


class ReadOnlyAdmin(admin.ModelAdmin):
    """What users wrote is changed through the API, which keeps history and side effects."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Thread)
class ThreadAdmin(ReadOnlyAdmin):
    list_display = (
        shortened("id"),
        "title",
        shortened("user", length=20),
        "message_count",
        "created_at",
        "updated_at",
    )
    list_filter = ("title_generated", "created_at")
    search_fields = ("=id", "title", "user__email")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    readonly_fields = ("user", "title", "title_generated", "created_at", "updated_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Thread]:
        # A subquery, not a join: the list's count query can drop it.
        counts = (
            Message.objects.filter(thread=OuterRef("pk"))
            .order_by()
            .values("thread")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(messages_n=Subquery(counts, output_field=IntegerField()))
        )

    @admin.display(description="messages", ordering="messages_n")
    def message_count(self, thread: Thread) -> int:
        return thread.messages_n or 0


@admin.register(Message)
class MessageAdmin(ListedByIdMixin, ReadOnlyAdmin):
    list_display = (
        shortened("id"),
        shortened("thread", length=16),
        "role",
        shortened("model_id", length=20),
        "status",
        "content_chars",
        "tokens",
        "cost_usd",
        "created_at",
    )
    list_filter = ("role", "status", "model_id")
    search_fields = ("=id", "=thread__id", "thread__user__email")
    list_select_related = ("thread",)
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    exclude = ("content",)
    readonly_fields = (
        "thread",
        "model_id",
        "role",
        "status",
        "error",
        "temperature",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
        "memories_used",
        "created_at",
        "folded_content",
    )

    @admin.display(description="chars")
    def content_chars(self, message: Message) -> int:
        return len(message.content)

    @admin.display(description="tokens in + out", ordering="prompt_tokens")
    def tokens(self, message: Message) -> str:
        # One column for both: ten columns did not fit a 1400-pixel screen.
        return f"{message.prompt_tokens} + {message.completion_tokens}"

    @admin.display(description="content")
    def folded_content(self, message: Message) -> str:
        return format_html(
            '<details><summary>Show the text ({} characters)</summary><pre style="white-space: '
            'pre-wrap">{}</pre></details>',
            len(message.content),
            message.content,
        )
