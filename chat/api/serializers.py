from rest_framework import serializers

from core.pagination import PageQuerySerializer
from memories.api.serializers import TeamScopeField


class ThreadListQuery(PageQuerySerializer):
    q = serializers.CharField(required=False, allow_blank=True, max_length=200)
    order_by = serializers.ChoiceField(choices=["updated_at", "created_at"], default="updated_at")
    order = serializers.ChoiceField(choices=["asc", "desc"], default="desc")


class MessageListQuery(PageQuerySerializer):
    order = serializers.ChoiceField(choices=["asc", "desc"], default="asc")


def temperature_field() -> serializers.FloatField:
    """A request's sampling temperature: 0 to 2, OpenAI's range, the widest of the providers'
    (past it every provider refuses the request, which would be a provider's error, not ours)."""
    return serializers.FloatField(
        required=False, allow_null=True, default=None, min_value=0, max_value=2
    )


class MessageCreateInput(serializers.Serializer):
    # The model's context is the real limit (CONTEXT_TOO_LONG); this only bounds the work.
    content = serializers.CharField(max_length=1_000_000, trim_whitespace=False)
    temperature = temperature_field()
    stream = serializers.BooleanField(default=False)
    include_team = TeamScopeField()

    def validate_content(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.")
        return value


class SummaryOutput(serializers.Serializer):
    model_id = serializers.CharField()
    summary = serializers.CharField()
    summary_tokens = serializers.IntegerField()
    summarized_until = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField()


class ThreadCreateInput(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    persona_id = serializers.UUIDField(required=False, allow_null=True, default=None)


class ThreadUpdateInput(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False)
    persona_id = serializers.UUIDField(
        required=False, allow_null=True, help_text="A persona of yours; null: the profile's."
    )

    def validate(self, attrs: dict) -> dict:
        if not attrs:
            raise serializers.ValidationError({"title": ["Give a title or a persona_id."]})
        return attrs


class ThreadOutput(serializers.Serializer):
    id = serializers.UUIDField()
    title = serializers.CharField()
    title_generated = serializers.BooleanField()
    persona_id = serializers.UUIDField(allow_null=True)
    message_count = serializers.IntegerField(default=0)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ThreadTitleInput(serializers.Serializer):
    title = serializers.CharField(max_length=200)


class LastMessageOutput(serializers.Serializer):
    id = serializers.UUIDField()
    model_id = serializers.CharField()
    role = serializers.CharField()
    status = serializers.CharField()
    content = serializers.CharField(
        source="preview", help_text="Its first 280 characters (the whole one: GET its messages)."
    )
    created_at = serializers.DateTimeField()


class ModelActivityOutput(serializers.Serializer):
    message_count = serializers.IntegerField()
    last_message_at = serializers.DateTimeField(allow_null=True)
    summary = serializers.CharField(help_text="Empty until the conversation is summarized.")
    summary_updated_at = serializers.DateTimeField(allow_null=True)


class ThreadListItemOutput(ThreadOutput):
    active_models = serializers.ListField(
        source="activity.active_models",
        child=serializers.CharField(),
        help_text="Models with messages here, the most recently active first.",
    )
    last_message = LastMessageOutput(source="activity.last_message", allow_null=True)
    summary = serializers.CharField(
        source="activity.summary",
        allow_null=True,
        help_text="The newest of its models' summaries; null before any.",
    )


class ThreadMessageOutput(serializers.Serializer):
    id = serializers.UUIDField()
    model_id = serializers.CharField()
    role = serializers.CharField()
    status = serializers.CharField()
    content = serializers.CharField()
    created_at = serializers.DateTimeField()


class ThreadDetailOutput(ThreadListItemOutput):
    models = serializers.DictField(
        source="activity.models",
        child=ModelActivityOutput(),
        help_text="Each model's conversation in the thread, by model id.",
    )
    messages = ThreadMessageOutput(
        many=True,
        source="recent_messages",
        help_text="The newest messages of every model, oldest first (at most 100; each "
        "model's whole conversation pages at its messages path).",
    )
    has_more_messages = serializers.BooleanField(help_text="Older messages than these exist.")


class ThreadReplaceInput(serializers.Serializer):
    title = serializers.CharField(max_length=200, allow_blank=True)
    persona_id = serializers.UUIDField(
        allow_null=True, help_text="A persona of yours; null: the profile's."
    )


class ThreadStartInput(MessageCreateInput):
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    persona_id = serializers.UUIDField(required=False, allow_null=True, default=None)


class ThreadPageOutput(serializers.Serializer):
    results = ThreadListItemOutput(many=True)
    next_cursor = serializers.CharField(allow_null=True)
    has_more = serializers.BooleanField()
    total_count = serializers.IntegerField(help_text="Threads matching the query, all pages.")


class ThreadDeletedOutput(serializers.Serializer):
    deleted_thread = serializers.UUIDField()
    deleted_messages = serializers.IntegerField()


class MemoryUsedOutput(serializers.Serializer):
    id = serializers.UUIDField()
    score = serializers.FloatField()


class MessageOutput(serializers.Serializer):
    id = serializers.UUIDField()
    thread_id = serializers.UUIDField()
    model_id = serializers.CharField()
    role = serializers.CharField()
    content = serializers.CharField()
    status = serializers.CharField()
    error = serializers.CharField()
    temperature = serializers.FloatField(allow_null=True)
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    cost_usd = serializers.DecimalField(max_digits=12, decimal_places=6)
    memories_used = MemoryUsedOutput(many=True)
    created_at = serializers.DateTimeField()


class ExchangeOutput(serializers.Serializer):
    user_message = MessageOutput()
    assistant_message = MessageOutput()


class ThreadStartedOutput(ExchangeOutput):
    thread = ThreadOutput()


class MessagePageOutput(serializers.Serializer):
    results = MessageOutput(many=True)
    next_cursor = serializers.CharField(allow_null=True)
    has_more = serializers.BooleanField()
