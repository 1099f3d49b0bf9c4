"""Input and output shapes of the mem0-compatible API (as mem0ai's MemoryClient sends and
reads them). Inputs only validate; entity ids and filters are checked by ``mapping``."""

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.schema import NO_NUL, named_schema
from interop.mem0_compat.mapping import ENTITY_MAX_CHARS, ENTITY_NAMES, METADATA_PREFIX
from memories.api.serializers import (
    SCALAR_VALUE_SCHEMA,
    ConversationMessageSerializer,
    InputSerializer,
    TeamScopeField,
)
from memories.selectors import SEARCH_QUERY_MAX_CHARS
from memories.services import BULK_MAX_ITEMS

# 9999-12-31T23:59:59Z, the last moment Python's datetime can hold.
LAST_TIMESTAMP = 253_402_300_799


def _not_a_wildcard(value: str) -> None:
    # mem0's "*" means every entity; served nowhere, so that a delete cannot say it did it.
    if value == "*":
        raise serializers.ValidationError("An id; wildcards are not served.")


@extend_schema_field({"type": "string", "maxLength": ENTITY_MAX_CHARS, "not": {"enum": ["*"]}})
class EntityIdField(serializers.CharField):
    """An entity id (user_id, agent_id, run_id, app_id): any text but mem0's wildcard."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            required=False, max_length=ENTITY_MAX_CHARS, validators=[_not_a_wildcard], **kwargs
        )


# An option of mem0's that Engram does not serve may only ask for nothing (null, false, empty).
_NOTHING_ASKED = {
    "nullable": True,
    "anyOf": [
        {"type": "boolean", "enum": [False]},
        {"type": "string", "maxLength": 0},
        {"type": "array", "maxItems": 0},
        {"type": "object", "maxProperties": 0},
    ],
}


@extend_schema_field(_NOTHING_ASKED)
class NotServedField(serializers.Field):
    """A mem0 option Engram does not serve: refused when it asks for something, so that nothing
    a client asked for is dropped without a word (docs/interop.md, "Not served")."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, allow_null=True, **kwargs)

    def to_internal_value(self, data: Any) -> Any:
        if data is False or data in ("", [], {}):
            return data
        raise serializers.ValidationError("Engram does not serve this mem0 option.")


class Mem0EntityFieldsMixin(InputSerializer):
    user_id = EntityIdField(help_text="Your end user (a namespace).")
    agent_id = EntityIdField()
    run_id = EntityIdField(help_text="A run or session.")
    app_id = EntityIdField()


# mem0's filter language as ``mapping.filters_from`` reads it. What it cannot say: every
# alternative must name an entity (here or at the top level), and at most
# MAX_FILTER_BRANCHES alternatives.
_FILTER_ID = {"type": "string", "minLength": 1, "pattern": NO_NUL, "not": {"enum": ["*"]}}
_MOMENT = {
    "anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]
}


def _filter_schema(itself: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            **{name: {"type": "array", "minItems": 1, "items": itself} for name in ("AND", "OR")},
            **{
                name: {
                    "anyOf": [
                        _FILTER_ID,
                        {
                            "type": "object",
                            "required": ["in"],
                            "additionalProperties": False,
                            "properties": {"in": {"type": "array", "items": _FILTER_ID}},
                        },
                    ]
                }
                for name in ENTITY_NAMES
            },
            "metadata": {
                "type": "object",
                "properties": {METADATA_PREFIX + name: {"not": {}} for name in ENTITY_NAMES},
                "additionalProperties": SCALAR_VALUE_SCHEMA,
            },
            "created_at": {
                "type": "object",
                "minProperties": 1,
                "additionalProperties": False,
                "properties": {operator: _MOMENT for operator in ("gte", "gt", "lte", "lt")},
            },
        },
    }


@extend_schema_field(named_schema("Mem0Filter", _filter_schema))
class Mem0FilterField(serializers.DictField):
    """mem0's ``filters``: AND/OR of entity ids, ``metadata`` and ``created_at``."""


class Mem0AddSerializer(Mem0EntityFieldsMixin):
    messages = ConversationMessageSerializer(many=True, min_length=1, max_length=BULK_MAX_ITEMS)
    metadata = serializers.DictField(required=False, default=dict)
    infer = serializers.BooleanField(default=True, help_text="Extract facts (true) or store "
                                     "each message as it is (false).")  # fmt: skip
    timestamp = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=LAST_TIMESTAMP,
        help_text="Unix time of the memories (infer=false).",
    )
    filters = serializers.DictField(required=False, help_text="Entity ids, as at the top level.")
    expiration_date = NotServedField()
    immutable = NotServedField()
    custom_categories = NotServedField()
    custom_instructions = NotServedField()
    agent_custom_instructions = NotServedField()
    structured_data_schema = NotServedField()


class Mem0SearchSerializer(Mem0EntityFieldsMixin):
    query = serializers.CharField(max_length=SEARCH_QUERY_MAX_CHARS)
    filters = Mem0FilterField(required=False, default=dict)
    top_k = serializers.IntegerField(min_value=1, max_value=100, default=10)
    threshold = serializers.FloatField(min_value=0, max_value=1, required=False, allow_null=True)
    keyword_search = serializers.BooleanField(
        default=False, help_text="Fuse keyword and semantic ranking (Engram's hybrid search)."
    )
    include_team = TeamScopeField(
        help_text="Engram's teams: `all`, `none` or `team:<organisation id>`; left out, your "
        "own default per team."
    )


class Mem0ListSerializer(Mem0EntityFieldsMixin):
    filters = Mem0FilterField(required=False, default=dict)


class Mem0PageQuerySerializer(InputSerializer):
    page = serializers.IntegerField(min_value=1, max_value=1_000_000, default=1)
    page_size = serializers.IntegerField(min_value=1, max_value=100, default=100)


class Mem0EntityQuerySerializer(Mem0EntityFieldsMixin):
    pass


class Mem0UpdateSerializer(InputSerializer):
    text = serializers.CharField(required=False, trim_whitespace=False)
    metadata = serializers.DictField(required=False)


class Mem0BatchUpdateItemSerializer(Mem0UpdateSerializer):
    memory_id = serializers.CharField()


def _each_once(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A batch names each memory once: twice, its count said more memories than changed."""
    ids = [str(item["memory_id"]).strip().lower() for item in items]
    if twice := sorted({pk for pk in ids if ids.count(pk) > 1}):
        raise serializers.ValidationError(f"Each memory once; named more than once: {twice}.")
    return items


class Mem0BatchUpdateSerializer(InputSerializer):
    memories = Mem0BatchUpdateItemSerializer(many=True, min_length=1, max_length=BULK_MAX_ITEMS)

    def validate_memories(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return _each_once(items)


class Mem0BatchDeleteItemSerializer(InputSerializer):
    memory_id = serializers.CharField()


class Mem0BatchDeleteSerializer(InputSerializer):
    memories = Mem0BatchDeleteItemSerializer(many=True, min_length=1, max_length=BULK_MAX_ITEMS)

    def validate_memories(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return _each_once(items)


# --- Outputs (for the OpenAPI document) -------------------------------------------------------


class Mem0MemorySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    memory = serializers.CharField()
    user_id = serializers.CharField(allow_null=True)
    agent_id = serializers.CharField(allow_null=True)
    run_id = serializers.CharField(allow_null=True)
    app_id = serializers.CharField(allow_null=True)
    hash = serializers.CharField()
    metadata = serializers.DictField(allow_null=True)
    categories = serializers.ListField(child=serializers.CharField())
    immutable = serializers.BooleanField()
    expiration_date = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class Mem0SearchHitSerializer(Mem0MemorySerializer):
    score = serializers.FloatField()


class Mem0SearchResultSerializer(serializers.Serializer):
    results = Mem0SearchHitSerializer(many=True)


class Mem0PageSerializer(serializers.Serializer):
    # The envelope of mem0's lists; each list adds its ``results``.
    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)


class Mem0MemoryPageSerializer(Mem0PageSerializer):
    results = Mem0MemorySerializer(many=True)


class Mem0EventResultSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    event = serializers.CharField(help_text="ADD, UPDATE or DELETE.")
    memory = serializers.CharField()


class Mem0AddResultSerializer(serializers.Serializer):
    message = serializers.CharField()
    status = serializers.CharField(help_text="PENDING, RUNNING, SUCCEEDED or FAILED.")
    event_id = serializers.UUIDField(
        allow_null=True, help_text="infer=true: poll GET /v1/event/{event_id}/."
    )
    results = Mem0EventResultSerializer(many=True)
    inferred = serializers.BooleanField(
        help_text="Whether an extraction job reads the messages (infer=true and a language "
        "model for it); false: each user and assistant message is stored as it is."
    )
    reason = serializers.CharField(
        required=False,
        help_text="infer=true without a language model for extraction: why the messages were "
        "stored as they are.",
    )


class Mem0EventSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    event_type = serializers.CharField()
    status = serializers.CharField(help_text="PENDING, RUNNING, SUCCEEDED or FAILED.")
    results = Mem0EventResultSerializer(many=True)
    error = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    latency = serializers.FloatField(allow_null=True)


class Mem0HistorySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    memory_id = serializers.UUIDField()
    event = serializers.CharField(help_text="ADD, UPDATE or DELETE.")
    old_memory = serializers.CharField(allow_null=True)
    new_memory = serializers.CharField(allow_null=True)
    user_id = serializers.CharField(allow_null=True)
    input = serializers.ListField(child=serializers.DictField())
    metadata = serializers.DictField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class Mem0MessageResultSerializer(serializers.Serializer):
    message = serializers.CharField()


class Mem0EntitySerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    type = serializers.ChoiceField(choices=["user", "agent", "run", "app"])
    total_memories = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    owner = serializers.CharField()
    metadata = serializers.DictField(allow_null=True)


class Mem0EntityPageSerializer(Mem0PageSerializer):
    results = Mem0EntitySerializer(many=True)


class Mem0PingSerializer(serializers.Serializer):
    status = serializers.CharField()
    message = serializers.CharField()
    org_id = serializers.CharField(help_text="The id of the key owner's account.")
    project_id = serializers.CharField(help_text="The same.")
    user_email = serializers.EmailField()
