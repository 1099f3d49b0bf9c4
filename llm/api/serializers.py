"""The model endpoints' output shapes."""

from datetime import UTC, datetime

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from llm.catalog import KeySource, UnavailableReason
from llm.loading import LoadState
from llm.selectors import MODEL_STATES, ModelListing, ModelStatus


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
    memory_bytes = serializers.IntegerField(
        allow_null=True,
        help_text="A loaded local model: the memory Ollama holds it in (null when it is not in "
        "memory, or for a remote model).",
    )
    memory_vram_bytes = serializers.IntegerField(
        allow_null=True, help_text="Of ``memory_bytes``, those in GPU memory."
    )
    in_memory_until = serializers.CharField(
        allow_null=True,
        help_text="When Ollama unloads it unless it is used before (ISO 8601, as Ollama says).",
    )
    last_loaded = serializers.DateTimeField(
        allow_null=True, help_text="When its last load (pull) through this server finished."
    )
    estimated_load_seconds = serializers.IntegerField(
        allow_null=True,
        help_text="While it loads: the seconds the rest should take at the rate so far.",
    )


def status_body(status: ModelStatus) -> dict:
    """The status as the API and the load SSE stream send it."""
    job = status.job.as_dict() if status.job else None
    if job is not None:
        job = {key: job[key] for key in LoadProgressOutput().fields}
    running, finished = status.running, status.job
    loaded_at = None
    if finished is not None and finished.state == LoadState.LOADED:
        loaded_at = datetime.fromtimestamp(finished.updated_at, UTC).isoformat()
        loaded_at = loaded_at.removesuffix("+00:00") + "Z"
    return {
        "model_id": status.model_id,
        "status": status.state.value,
        "available": status.availability.available,
        "unavailable_reason": _reason(status.availability),
        "load": job,
        "error": status.error,
        "memory_bytes": running.size if running else None,
        "memory_vram_bytes": running.size_vram if running else None,
        "in_memory_until": (running.expires_at or None) if running else None,
        "last_loaded": loaded_at,
        "estimated_load_seconds": finished.remaining_seconds if finished else None,
    }


class ModelLoadOutput(serializers.Serializer):
    model_id = serializers.CharField()
    job_id = serializers.CharField()
    status = serializers.ChoiceField(choices=MODEL_STATES)
    stream_url = serializers.CharField(help_text="GET it for the progress as server-sent events.")
