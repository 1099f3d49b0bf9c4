"""The request and response shapes of the OpenAI-compatible endpoints (for validation and
the OpenAPI schema; the bodies themselves are built by chat/openai_format.py)."""

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from chat.api.serializers import temperature_field
from core.api import InputSerializer
from core.schema import NO_NUL

# Request fields sent on to the model as they are.
PASSED_THROUGH = (
    "top_p",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "response_format",
)
ROLES = ("system", "developer", "user", "assistant", "tool")
# More than any model writes in one answer: a larger max_tokens is a client's mistake.
MAX_OUTPUT_TOKENS = 1_000_000


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "pattern": NO_NUL},
            {"type": "array", "items": {"type": "object"}},
        ],
        "nullable": True,
    }
)
class MessageContentField(serializers.JSONField):
    """A string, a list of content parts, or null."""


@extend_schema_field({"type": "integer", "enum": [1], "default": 1})
class ChoiceCountField(serializers.IntegerField):
    """``n``: only 1. The view refuses any other with a message the client's SDK shows."""


class ChatMessageInput(serializers.Serializer):
    role = serializers.ChoiceField(choices=ROLES)
    content = MessageContentField(allow_null=True)
    name = serializers.CharField(required=False, max_length=64)
    tool_call_id = serializers.CharField(
        required=False, max_length=200, help_text="A tool message's: the call it answers."
    )

    def validate_content(self, value: Any) -> Any:
        if value is None or isinstance(value, str | list):
            return value
        raise serializers.ValidationError("Expected a string or a list of content parts.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # What the provider would refuse, refused here with the field named (it was sent on).
        if attrs["content"] is None and attrs["role"] != "assistant":
            raise serializers.ValidationError({"content": ["Only an assistant's may be null."]})
        if attrs["role"] == "tool" and not attrs.get("tool_call_id"):
            raise serializers.ValidationError({"tool_call_id": ["A tool message names its call."]})
        return attrs


class StreamOptionsInput(serializers.Serializer):
    include_usage = serializers.BooleanField(default=False)


class ChatCompletionInput(InputSerializer):
    model = serializers.CharField(max_length=200)
    messages = ChatMessageInput(many=True, allow_empty=False)
    n = ChoiceCountField(
        default=1, help_text="How many choices to generate: Engram answers exactly one."
    )
    stream = serializers.BooleanField(default=False)
    stream_options = StreamOptionsInput(required=False)
    temperature = temperature_field()
    max_tokens = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_OUTPUT_TOKENS, allow_null=True
    )
    max_completion_tokens = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_OUTPUT_TOKENS, allow_null=True
    )
    top_p = serializers.FloatField(required=False, min_value=0, max_value=1)
    # OpenAI's SDKs send null for "not set" in these.
    stop = serializers.JSONField(required=False, allow_null=True)
    presence_penalty = serializers.FloatField(required=False, min_value=-2, max_value=2)
    frequency_penalty = serializers.FloatField(required=False, min_value=-2, max_value=2)
    seed = serializers.IntegerField(required=False)
    response_format = serializers.JSONField(required=False, allow_null=True)


class ChoiceMessageOutput(serializers.Serializer):
    role = serializers.CharField()
    content = serializers.CharField()


class ChoiceOutput(serializers.Serializer):
    index = serializers.IntegerField()
    message = ChoiceMessageOutput()
    finish_reason = serializers.CharField(allow_null=True)


class UsageOutput(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()


class ChatCompletionOutput(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField()
    created = serializers.IntegerField()
    model = serializers.CharField()
    choices = ChoiceOutput(many=True)
    usage = UsageOutput()


class OpenAIModelOutput(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField()
    created = serializers.IntegerField()
    owned_by = serializers.CharField()


class OpenAIModelListOutput(serializers.Serializer):
    object = serializers.CharField()
    data = OpenAIModelOutput(many=True)
