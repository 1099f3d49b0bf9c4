"""Input and output shapes of the memories API. Input serializers only validate; the services
write. The content length limit is the service's (a 413, not a field error)."""

import functools
import operator
from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api import ClosedInputSerializer, InputSerializer
from core.pagination import PageQuerySerializer
from core.schema import EMPTY_OR_NOT_BLANK, NO_NUL, NOT_BLANK_NO_NUL
from memories.extraction import ROLES
from memories.models import (
    EmbeddingStatus,
    HistoryEvent,
    JobStatus,
    JobTrigger,
    Memory,
    Provider,
    Source,
)
from memories.prompts import EVENTS
from memories.selectors import SEARCH_QUERY_MAX_CHARS, MemoryFilters
from memories.services import BULK_MAX_ITEMS, MAX_TAGS, TAG_MAX_CHARS, MemoryDraft
from memories.spaces import TEAM_SCOPE_PATTERN, ScopedHit

SCALAR_TYPES = (str, int, float, bool, type(None))


def _text(**kwargs: Any) -> serializers.CharField:
    # Stored exactly as sent: whitespace inside a memory can matter (code, poems).
    return serializers.CharField(trim_whitespace=False, **kwargs)


def _tags(**kwargs: Any) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.CharField(max_length=TAG_MAX_CHARS), max_length=MAX_TAGS, **kwargs
    )


class ScopeFieldsMixin(InputSerializer):
    agent_id = serializers.CharField(max_length=255, required=False, allow_blank=True)
    session_id = serializers.CharField(max_length=255, required=False, allow_blank=True)


class MemoryCreateSerializer(ScopeFieldsMixin):
    # A memory needs text: the content, or else a prompt or a response to compose it from; a
    # content sent is the memory's text, so it may not be only whitespace.
    schema_constraints = {
        "allOf": [{"properties": {"content": {"pattern": EMPTY_OR_NOT_BLANK}}}],
        "anyOf": [
            {"required": [name], "properties": {name: {"pattern": NOT_BLANK_NO_NUL}}}
            for name in ("content", "prompt", "response")
        ],
    }
    content = _text(required=False, allow_blank=True)
    prompt = _text(required=False, allow_blank=True)
    response = _text(required=False, allow_blank=True)
    title = serializers.CharField(max_length=500, required=False, allow_blank=True)
    provider = serializers.ChoiceField(choices=Provider.choices, default=Provider.API)
    source = serializers.ChoiceField(choices=Source.choices, default=Source.API)
    source_url = serializers.URLField(max_length=2048, required=False, allow_blank=True)
    tags = _tags(required=False)
    importance = serializers.FloatField(min_value=0, max_value=1, default=0.5)
    metadata = serializers.DictField(required=False)
    conversation_id = serializers.CharField(max_length=255, required=False, allow_blank=True)

    def to_draft(self) -> MemoryDraft:
        return MemoryDraft(**self.validated_data)


class MemoryImportLineSerializer(MemoryCreateSerializer):
    """One line of an export file; ``created_at`` is kept, other output-only fields ignored."""

    created_at = serializers.DateTimeField(required=False)


@extend_schema_field(MemoryCreateSerializer(many=True))
class MemoryItemsField(serializers.ListField):
    """A list of memories, each validated on its own so errors can be reported by index."""


class MemoryBulkSerializer(InputSerializer):
    memories = MemoryItemsField(
        child=serializers.JSONField(), min_length=1, max_length=BULK_MAX_ITEMS
    )


class PromptCaptureSerializer(ScopeFieldsMixin):
    # The prompt is the memory's text (until its response comes): not only whitespace.
    schema_constraints = {"allOf": [{"properties": {"prompt": {"pattern": NOT_BLANK_NO_NUL}}}]}
    prompt = _text()
    provider = serializers.ChoiceField(choices=Provider.choices)
    source_url = serializers.URLField(max_length=2048, required=False, allow_blank=True)
    conversation_id = serializers.CharField(max_length=255, required=False, allow_blank=True)
    title = serializers.CharField(max_length=500, required=False, allow_blank=True)
    tags = _tags(required=False)
    metadata = serializers.DictField(required=False)


class ResponseSaveSerializer(InputSerializer):
    response = _text()


class MemoryUpdateSerializer(ScopeFieldsMixin):
    title = serializers.CharField(max_length=500, required=False, allow_blank=True)
    content = _text(required=False)
    tags = _tags(required=False)
    importance = serializers.FloatField(min_value=0, max_value=1, required=False)
    metadata = serializers.DictField(required=False)
    source_url = serializers.URLField(max_length=2048, required=False, allow_blank=True)


class MemoryListQuerySerializer(PageQuerySerializer, InputSerializer):
    provider = serializers.ChoiceField(choices=Provider.choices, required=False)
    source = serializers.ChoiceField(choices=Source.choices, required=False)
    tag = serializers.CharField(max_length=TAG_MAX_CHARS, required=False)
    agent_id = serializers.CharField(max_length=255, required=False)
    session_id = serializers.CharField(max_length=255, required=False)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)

    def to_filters(self) -> MemoryFilters:
        data = dict(self.validated_data)
        data.pop("limit", None)
        data.pop("cursor", None)
        tag = data.pop("tag", None)
        return MemoryFilters(**data, tags=[tag] if tag else [])


class HistoryQuerySerializer(PageQuerySerializer):
    pass


class DeleteAllQuerySerializer(InputSerializer):
    # Exactly the documented value: "yes", "1" or "on" must not delete everything by accident.
    confirm = serializers.ChoiceField(
        choices=["true"], required=False, help_text="Must be `true` (exactly)."
    )


# A value a metadata filter can match: a scalar, or null.
SCALAR_VALUE_SCHEMA = {
    "anyOf": [{"type": "string", "pattern": NO_NUL}, {"type": "number"}, {"type": "boolean"}],
    "nullable": True,
}


@extend_schema_field({"type": "object", "additionalProperties": SCALAR_VALUE_SCHEMA})
class ScalarMapField(serializers.DictField):
    """Keys and the scalar value (or null) each must equal."""


class SearchFiltersSerializer(ClosedInputSerializer, ScopeFieldsMixin):
    provider = serializers.ChoiceField(choices=Provider.choices, required=False)
    source = serializers.ChoiceField(choices=Source.choices, required=False)
    tags = _tags(required=False)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    metadata = ScalarMapField(
        required=False,
        help_text="Metadata keys that must equal these scalar values (string, number, boolean).",
    )

    def validate_metadata(self, value: dict[str, Any]) -> dict[str, Any]:
        wrong = {
            key: ["Only scalar values can be matched."]
            for key, item in value.items()
            if not isinstance(item, SCALAR_TYPES)
        }
        if wrong:
            raise serializers.ValidationError(wrong)
        return value


class TeamScopeField(serializers.RegexField):
    """Which team memories a search, or the recall of a chat turn, covers beside the caller's
    own (memories.spaces.TEAM_SCOPE_PATTERN); left out, each team's ``include_in_search``."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault(
            "help_text",
            "Team memories searched beside yours: `all` your teams, `none`, or "
            "`team:<organisation id>`; left out, the teams whose `include_in_search` you left on.",
        )
        super().__init__(TEAM_SCOPE_PATTERN, required=False, **kwargs)


class SearchSerializer(InputSerializer):
    query = serializers.CharField(max_length=SEARCH_QUERY_MAX_CHARS)
    top_k = serializers.IntegerField(min_value=1, max_value=100, default=10)
    mode = serializers.ChoiceField(choices=["semantic", "keyword", "hybrid"], default="hybrid")
    threshold = serializers.FloatField(
        min_value=0,
        max_value=1,
        required=False,
        allow_null=True,
        help_text="semantic and hybrid: a minimum cosine similarity of the semantic candidates; "
        "keyword: a minimum normalised BM25 score.",
    )
    min_score = serializers.FloatField(
        min_value=0,
        max_value=1,
        required=False,
        allow_null=True,
        help_text="Only results whose `score` reaches this (a relevance floor, 0..1).",
    )
    filters = SearchFiltersSerializer(required=False)
    importance_boost = serializers.FloatField(min_value=0, max_value=1, default=0)
    recency_boost = serializers.FloatField(min_value=0, max_value=1, default=0)
    include_team = TeamScopeField()

    def to_filters(self) -> MemoryFilters:
        return MemoryFilters(**self.validated_data.get("filters", {}))


class MemorySerializer(serializers.Serializer):
    """A memory as the API shows it (explicit fields: building them is cheap on hot paths)."""

    id = serializers.UUIDField()
    title = serializers.CharField()
    content = serializers.CharField()
    prompt = serializers.CharField()
    response = serializers.CharField()
    provider = serializers.ChoiceField(choices=Provider.choices)
    source = serializers.ChoiceField(choices=Source.choices)
    source_url = serializers.CharField(help_text="A URL, or empty.")
    tags = serializers.ListField(child=serializers.CharField())
    importance = serializers.FloatField()
    metadata = serializers.DictField()
    agent_id = serializers.CharField()
    session_id = serializers.CharField()
    conversation_id = serializers.CharField()
    thread_id = serializers.UUIDField(allow_null=True, help_text="The chat thread it came from.")
    near_duplicate_of = serializers.UUIDField(
        source="near_duplicate_of_id",
        allow_null=True,
        help_text="A memory of the same scope with very similar text (found when this one was "
        "embedded). Both are kept: similar text can say different things.",
    )
    embedding_status = serializers.ChoiceField(choices=EmbeddingStatus.choices)
    embedding_model = serializers.CharField()
    embedding_error = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def to_representation(self, memory: Memory) -> dict[str, Any]:
        # Each field's own representation of the attribute it reads, without DRF's walk over
        # the fields (a lookup of its source and checks, per field): half the time, and lists
        # and search represent tens of memories a request. Every field reads a plain attribute;
        # test_a_memory_is_represented_as_drf_represents_it holds it to DRF's output.
        return {
            name: None if (value := read(memory)) is None else represent(value)
            for name, read, represent in self._readers
        }

    @functools.cached_property
    def _readers(self) -> list[tuple[str, Callable[[Any], Any], Callable[[Any], Any]]]:
        return [
            (name, operator.attrgetter(field.source), field.to_representation)
            for name, field in self.fields.items()
        ]


class MemorySavedSerializer(MemorySerializer):
    folded = serializers.BooleanField(
        help_text="True when the same text (after normalising case, whitespace and Unicode"
        " compatibility forms) was already stored in this scope: this is that memory, nothing new"
        " was stored."
    )


class MemoryDetailSerializer(MemorySerializer):
    merged_into = serializers.UUIDField(
        allow_null=True,
        help_text="Set when the id asked for was merged into another memory: this is that "
        "memory (the history of the id asked for shows the merge; a revert brings it back).",
    )


class MemoryPageSerializer(serializers.Serializer):
    results = MemorySerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)
    has_more = serializers.BooleanField()


class BulkItemSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    id = serializers.UUIDField()
    created = serializers.BooleanField()


FOLDED_HELP = (
    "Items whose text (after normalising case, whitespace and Unicode compatibility forms) was "
    "already stored in their scope, or came earlier in the request: folded into that memory, "
    "nothing new stored."
)


class ImportResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField(help_text=f"{FOLDED_HELP} How many.")
    folded_into = serializers.ListField(
        child=serializers.UUIDField(),
        help_text=f"{FOLDED_HELP} The memory each was folded into, in the order of the items.",
    )


class BulkResultSerializer(ImportResultSerializer):
    results = BulkItemSerializer(many=True)


class DeleteAllResultSerializer(serializers.Serializer):
    deleted = serializers.IntegerField()


class HistorySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    memory_id = serializers.UUIDField()
    event = serializers.ChoiceField(choices=HistoryEvent.choices)
    old_content = serializers.CharField()
    new_content = serializers.CharField()
    changed_fields = serializers.ListField(child=serializers.CharField())
    job_id = serializers.UUIDField(
        allow_null=True, help_text="The extraction job that made this change, if one did."
    )
    related_memory_id = serializers.UUIDField(
        allow_null=True,
        help_text="Merge entries: the memory this one was merged into, or the one merged in.",
    )
    reverted_to = serializers.UUIDField(
        allow_null=True, help_text="Revert entries: the entry whose content was restored."
    )
    created_at = serializers.DateTimeField()


class RevertSerializer(InputSerializer):
    history_id = serializers.UUIDField(
        help_text="An entry of this memory's history; its content (the text right after that "
        "change) is restored."
    )


class ConversationMessageSerializer(InputSerializer):
    role = serializers.ChoiceField(choices=ROLES)
    content = _text(allow_blank=True)


class ExtractSerializer(ScopeFieldsMixin):
    messages = ConversationMessageSerializer(many=True, min_length=1, max_length=500)
    metadata = serializers.DictField(
        required=False, help_text="Stored on every memory the extraction adds."
    )


class ExtractionOperationSerializer(serializers.Serializer):
    fact = serializers.CharField()
    event = serializers.ChoiceField(choices=EVENTS)
    memory_id = serializers.UUIDField(
        allow_null=True, help_text="The memory added, updated, deleted, or found to say it."
    )
    text = serializers.CharField(allow_null=True, help_text="The text stored (ADD, UPDATE).")
    previous_text = serializers.CharField(
        allow_null=True, help_text="The memory's text the decision was made on (UPDATE, DELETE)."
    )
    applied = serializers.BooleanField(help_text="Whether a memory was written.")
    reason = serializers.CharField(help_text="Why a decision was not applied.")
    history_id = serializers.UUIDField(
        allow_null=True, help_text="The history entry of the change (for a revert)."
    )


class ExtractionJobSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=JobStatus.choices)
    trigger = serializers.ChoiceField(choices=JobTrigger.choices)
    agent_id = serializers.CharField()
    session_id = serializers.CharField()
    model = serializers.CharField()
    prompt_version = serializers.CharField()
    facts = serializers.ListField(child=serializers.CharField())
    operations = ExtractionOperationSerializer(many=True)
    error = serializers.CharField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    duration_ms = serializers.FloatField(allow_null=True, help_text="From start to finish.")
    llm_ms = serializers.FloatField(allow_null=True, help_text="Of which in LLM calls.")


class HistoryPageSerializer(serializers.Serializer):
    results = HistorySerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)
    has_more = serializers.BooleanField()


class SearchHitSerializer(MemorySerializer):
    organisation_id = serializers.UUIDField(
        allow_null=True, help_text="The team whose memory this is; null: your own."
    )
    score = serializers.FloatField(
        help_text="What results are ranked by, 0..1. hybrid: w·semantic_score + (1 - w)·"
        "(keyword_score normalised), w = MEMORY_SEARCH_SEMANTIC_WEIGHT; semantic: semantic_score; "
        "keyword: keyword_score normalised to 0..1 (1: every word of the query found in a memory "
        "of average length). Comparable across queries: `min_score` cuts on it."
    )
    semantic_score = serializers.FloatField(
        allow_null=True,
        help_text="Cosine similarity (-1..1) of the query's embedding to the memory's closest "
        "chunk; null when the semantic leg did not score it.",
    )
    keyword_score = serializers.FloatField(
        allow_null=True,
        help_text="Okapi BM25 (k1 1.2, b 0.75) of the query's words in this memory, with word "
        "rarity taken over your own memories (≥ 0, unbounded); null when the keyword leg did "
        "not score it (no query word in it, below the candidate depth, or, for a user past the "
        "HNSW threshold, holding only a few of the query's common words and none of its rare "
        "ones).",
    )
    highlights = serializers.ListField(child=serializers.CharField())

    def to_representation(self, scoped: ScopedHit) -> dict[str, Any]:
        """A search's hit (``ScopedHit``: the ``SearchHit`` and whose space it came from): its
        memory as ``MemorySerializer`` shows it, then the hit's scores and highlights (read from
        the hit: the memory is not touched)."""
        hit = scoped.hit
        data = _MEMORY.to_representation(hit.memory)
        data["organisation_id"] = str(scoped.organisation_id) if scoped.organisation_id else None
        data["score"] = hit.score
        data["semantic_score"] = hit.semantic_score
        data["keyword_score"] = hit.keyword_score
        data["highlights"] = list(hit.highlights)
        return data


# Built once: making a serializer deep-copies its declared fields; representing keeps no state.
_MEMORY = MemorySerializer()


class SearchResultSerializer(serializers.Serializer):
    results = SearchHitSerializer(many=True)
    took_ms = serializers.FloatField()
    mode = serializers.ChoiceField(choices=["semantic", "keyword", "hybrid"])


class LimitsSerializer(serializers.Serializer):
    memories = serializers.IntegerField(allow_null=True)
    memory_storage_bytes = serializers.IntegerField(allow_null=True)


class StatsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    by_provider = serializers.DictField(child=serializers.IntegerField())
    by_source = serializers.DictField(child=serializers.IntegerField())
    by_status = serializers.DictField(child=serializers.IntegerField())
    storage_bytes = serializers.IntegerField()
    limits = LimitsSerializer()


class SummarySerializer(serializers.Serializer):
    text = serializers.SerializerMethodField(
        help_text="The profile your model wrote when there is one, else the extractive one."
    )
    facts = serializers.DictField()
    generator = serializers.SerializerMethodField(help_text="`model` or `extractive`.")
    model = serializers.CharField(
        source="written_by", help_text="The model that wrote `text` (empty when extractive)."
    )
    written_at = serializers.DateTimeField(
        allow_null=True, help_text="When the model wrote `text` (null when extractive)."
    )
    extractive_text = serializers.CharField(
        source="text", help_text="The profile built from the facts alone, always current."
    )
    memory_count = serializers.IntegerField()
    stale = serializers.BooleanField()
    computed_at = serializers.DateTimeField()

    def get_text(self, summary) -> str:
        return summary.written_text or summary.text

    def get_generator(self, summary) -> str:
        return "model" if summary.written_text else summary.generator
