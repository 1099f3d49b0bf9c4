from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from chat.catalog import KeySource, UnavailableReason
from chat.loading import LoadState
from chat.selectors import MODEL_STATES, ModelListing, ModelStatus
from core.pagination import PageQuerySerializer


class ThreadListQuery(PageQuerySerializer):
    q = serializers.CharField(required=False, allow_blank=True, max_length=200)
    order_by = serializers.ChoiceField(choices=["updated_at", "created_at"], default="updated_at")
    order = serializers.ChoiceField(choices=["asc", "desc"], default="desc")


class MessageListQuery(PageQuerySerializer):
    order = serializers.ChoiceField(choices=["asc", "desc"], default="asc")


class MessageCreateInput(serializers.Serializer):
    # The model's context is the real limit (CONTEXT_TOO_LONG); this only bounds the work.
    content = serializers.CharField(max_length=1_000_000, trim_whitespace=False)
    temperature = serializers.FloatField(required=False, allow_null=True, default=None)
    stream = serializers.BooleanField(default=False)

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


class ThreadPageOutput(serializers.Serializer):
    results = ThreadOutput(many=True)
    next_cursor = serializers.CharField(allow_null=True)
    has_more = serializers.BooleanField()


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


class MessagePageOutput(serializers.Serializer):
    results = MessageOutput(many=True)
    next_cursor = serializers.CharField(allow_null=True)
    has_more = serializers.BooleanField()


class PricingOutput(serializers.Serializer):
    input_per_million = serializers.FloatField(help_text="USD per million input tokens.")
    output_per_million = serializers.FloatField(help_text="USD per million output tokens.")
    currency = serializers.CharField()


class TemperatureOutput(serializers.Serializer):
    min = serializers.FloatField()
    max = serializers.FloatField()
    default = serializers.FloatField()


class UnavailableReasonOutput(serializers.Serializer):
    code = serializers.ChoiceField(choices=[r.value for r in UnavailableReason])
    message = serializers.CharField()


def _reason(availability) -> dict | None:
    if availability.available:
        return None
    return {"code": availability.reason.value, "message": availability.message}


class ModelOutput(serializers.Serializer):
    id = serializers.CharField(source="model.id")
    name = serializers.CharField(source="model.name")
    description = serializers.CharField(source="model.description")
    provider = serializers.CharField(source="model.provider")
    provider_name = serializers.CharField(source="provider.name")
    context_length = serializers.IntegerField(source="model.context_length")
    max_output_tokens = serializers.IntegerField(
        source="model.max_output_tokens", help_text="Tokens kept free for the answer."
    )
    capabilities = serializers.ListField(child=serializers.CharField(), source="model.capabilities")
    pricing = serializers.SerializerMethodField()
    temperature = TemperatureOutput(source="model.temperature")
    api_key_required = serializers.BooleanField(source="model.api_key_required")
    local = serializers.BooleanField(source="model.local")
    requires_loading = serializers.BooleanField(source="model.requires_loading")
    available = serializers.BooleanField(source="availability.available")
    unavailable_reason = serializers.SerializerMethodField()
    key_source = serializers.SerializerMethodField()

    @extend_schema_field(PricingOutput(allow_null=True))
    def get_pricing(self, listing: ModelListing) -> dict | None:
        model = listing.model
        if model.input_price is None or model.output_price is None:
            return None
        return {
            "input_per_million": float(model.input_price),
            "output_per_million": float(model.output_price),
            "currency": "USD",
        }

    @extend_schema_field(UnavailableReasonOutput(allow_null=True))
    def get_unavailable_reason(self, listing: ModelListing) -> dict | None:
        return _reason(listing.availability)

    @extend_schema_field(
        serializers.ChoiceField(choices=[s.value for s in KeySource], allow_null=True)
    )
    def get_key_source(self, listing: ModelListing) -> str | None:
        source = listing.availability.key_source
        return source.value if source else None


class ModelListOutput(serializers.Serializer):
    models = ModelOutput(many=True)


class LoadProgressOutput(serializers.Serializer):
    job_id = serializers.CharField()
    state = serializers.ChoiceField(choices=[s.value for s in LoadState])
    detail = serializers.CharField(help_text="Ollama's last status line.")
    completed = serializers.IntegerField(help_text="Bytes pulled so far.")
    total = serializers.IntegerField(help_text="Bytes to pull, over the layers seen so far.")
    percent = serializers.IntegerField(allow_null=True)
    started_at = serializers.FloatField(help_text="Unix time.")
    updated_at = serializers.FloatField(help_text="Unix time.")


class ModelStatusOutput(serializers.Serializer):
    model_id = serializers.CharField()
    status = serializers.ChoiceField(choices=MODEL_STATES)
    available = serializers.BooleanField()
    unavailable_reason = UnavailableReasonOutput(allow_null=True)
    load = LoadProgressOutput(
        allow_null=True, help_text="The running or latest load of a local model."
    )
    error = serializers.CharField(allow_null=True)


def status_body(status: ModelStatus) -> dict:
    """The status as the API and the load SSE stream send it."""
    job = status.job.as_dict() if status.job else None
    if job is not None:
        job = {key: job[key] for key in LoadProgressOutput().fields}
    return {
        "model_id": status.model_id,
        "status": status.state.value,
        "available": status.availability.available,
        "unavailable_reason": _reason(status.availability),
        "load": job,
        "error": status.error,
    }


class ModelLoadOutput(serializers.Serializer):
    model_id = serializers.CharField()
    job_id = serializers.CharField()
    status = serializers.ChoiceField(choices=MODEL_STATES)
    stream_url = serializers.CharField(help_text="GET it for the progress as server-sent events.")
