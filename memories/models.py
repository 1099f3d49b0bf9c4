"""A user's memories, their searchable chunks, their history and the per-user vector indexes."""

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.utils import timezone
from pgvector.django import VectorField

# Full-text configuration of the generated search column and of every keyword query.
TEXT_SEARCH_CONFIG = "english"


class Provider(models.TextChoices):
    CHATGPT = "chatgpt", "ChatGPT"
    CLAUDE = "claude", "Claude"
    GEMINI = "gemini", "Gemini"
    GROK = "grok", "Grok"
    PERPLEXITY = "perplexity", "Perplexity"
    API = "api", "API"
    OTHER = "other", "Other"


class Source(models.TextChoices):
    EXTENSION = "extension", "Browser extension"
    API = "api", "API"
    CHAT = "chat", "Chat"
    IMPORT = "import", "Import"
    EXTRACTION = "extraction", "Extraction"


class EmbeddingStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class Memory(models.Model):
    """One thing a user wants remembered: a note, or a prompt and the AI's response.

    ``content`` is the text that is embedded and searched. Its vectors live in ``MemoryChunk``
    rows (one per chunk, one chunk for short content), written by the embedding task.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memories"
    )
    # Free-form scopes, as other memory layers use them (an agent, a session of that agent).
    agent_id = models.CharField(max_length=255, blank=True, default="")
    session_id = models.CharField(max_length=255, blank=True, default="")
    # The AI provider's own conversation id, as the browser extension reports it.
    conversation_id = models.CharField(max_length=255, blank=True, default="")
    title = models.CharField(max_length=500, blank=True, default="")
    prompt = models.TextField(blank=True, default="")
    response = models.TextField(blank=True, default="")
    content = models.TextField()
    provider = models.CharField(max_length=16, choices=Provider.choices, default=Provider.API)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.API)
    source_url = models.URLField(max_length=2048, blank=True, default="")
    tags = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    importance = models.FloatField(default=0.5)
    metadata = models.JSONField(default=dict, blank=True)
    # sha256 of the normalised content: deduplication and the embedding task's compare-and-set.
    content_hash = models.CharField(max_length=64)
    # Bytes of text and metadata this memory stores (quota and stats).
    size_bytes = models.PositiveIntegerField(default=0)
    embedding_status = models.CharField(
        max_length=16, choices=EmbeddingStatus.choices, default=EmbeddingStatus.PENDING
    )
    embedding_model = models.CharField(max_length=128, blank=True, default="")
    embedding_error = models.TextField(blank=True, default="")
    embedded_at = models.DateTimeField(null=True, blank=True)
    search_vector = models.GeneratedField(
        expression=SearchVector("title", "content", config=TEXT_SEARCH_CONFIG),
        output_field=SearchVectorField(),
        db_persist=True,
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "memories"
        indexes = [
            models.Index(fields=["user", "-created_at", "-id"], name="memories_user_created"),
            models.Index(fields=["user", "embedding_status"], name="memories_user_status"),
            models.Index(fields=["embedding_status", "updated_at"], name="memories_status_updated"),
            GinIndex(fields=["search_vector"], name="memories_search_vector"),
            GinIndex(fields=["tags"], name="memories_tags"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "agent_id", "session_id", "content_hash"],
                name="memories_unique_content_per_scope",
            ),
            models.CheckConstraint(
                condition=models.Q(importance__gte=0) & models.Q(importance__lte=1),
                name="memories_importance_0_1",
            ),
        ]

    def __str__(self) -> str:
        return self.title or self.content[:80]


class MemoryChunk(models.Model):
    """A span of a memory's content and its vector, for one embedding model.

    The vector column has no fixed dimension so that vectors of an old and a new model can live
    side by side while ``manage.py reembed`` runs; every query and index casts to
    ``EMBEDDING_DIMENSIONS`` and filters on ``model``. ``user`` is copied from the memory so a
    search and a per-user index need no join.
    """

    memory = models.ForeignKey(Memory, on_delete=models.CASCADE, related_name="chunks")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    model = models.CharField(max_length=128)
    position = models.PositiveSmallIntegerField()
    start = models.PositiveIntegerField()
    end = models.PositiveIntegerField()
    embedding = VectorField()

    class Meta:
        indexes = [models.Index(fields=["user", "model"], name="memories_chunk_user_model")]
        constraints = [
            models.UniqueConstraint(
                fields=["memory", "model", "position"], name="memories_chunk_unique_position"
            )
        ]

    def __str__(self) -> str:
        return f"{self.memory_id}#{self.position} ({self.model})"


class HistoryEvent(models.TextChoices):
    CREATE = "create", "Created"
    UPDATE = "update", "Updated"
    DELETE = "delete", "Deleted"


class MemoryHistory(models.Model):
    """One create, update or delete of a memory, with the text before and after.

    ``memory_id`` is not a foreign key: a deleted memory's history stays readable.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    memory_id = models.UUIDField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    event = models.CharField(max_length=16, choices=HistoryEvent.choices)
    old_content = models.TextField(blank=True, default="")
    new_content = models.TextField(blank=True, default="")
    changed_fields = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "memory history"
        indexes = [models.Index(fields=["memory_id", "created_at"], name="memories_history_memory")]

    def __str__(self) -> str:
        return f"{self.event} {self.memory_id} at {self.created_at:%Y-%m-%d %H:%M:%S}"


class IndexStatus(models.TextChoices):
    BUILDING = "building", "Building"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class UserVectorIndex(models.Model):
    """A partial HNSW index over one user's chunks of one model, for users past the threshold.

    A global HNSW index filters by user only after its scan, returning short or wrong lists for
    a user among many; a partial index ``WHERE user_id = X AND model = M`` holds only their rows.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="vector_indexes"
    )
    model = models.CharField(max_length=128)
    dimensions = models.PositiveIntegerField()
    name = models.CharField(max_length=63, unique=True)
    status = models.CharField(max_length=16, choices=IndexStatus.choices)
    rows = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "user vector indexes"
        constraints = [
            models.UniqueConstraint(fields=["user", "model"], name="memories_one_index_per_model")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"


class MemorySummary(models.Model):
    """The cached profile of what a user's memories are about (``memories/summary.py``)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="memory_summary",
    )
    text = models.TextField()
    facts = models.JSONField(default=dict)
    generator = models.CharField(max_length=32)
    memory_count = models.PositiveIntegerField(default=0)
    stale = models.BooleanField(default=False)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "memory summaries"

    def __str__(self) -> str:
        return f"Summary of {self.user_id}"
