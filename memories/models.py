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
# What the search column reads of a text: every run of characters other than letters, digits,
# spaces, ``'`` and ``-`` is a space. PostgreSQL's parser would keep an email address, a path
# or a URL as one token and drop an HTML tag, so "ada", "template" or "setup" never found
# "<ada@example.com>", "<template>" or ".../docs/setup"; a query is split into words as well
# (keyword.or_query_text).
SEARCH_TEXT_SEPARATORS = r"[^\w\s'-]+"


def _searched_text(field: str) -> models.Func:
    return models.Func(
        models.F(field),
        models.Value(SEARCH_TEXT_SEPARATORS),
        models.Value(" "),
        models.Value("g"),
        function="regexp_replace",
        output_field=models.TextField(),
    )


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
    WEB = "web", "Web app"


class EmbeddingStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


# The memories a new one with the same text in the same scope is folded into (and which the
# scope's uniqueness covers): all but a captured prompt still awaiting its response.
FOLDED_BY_CONTENT = models.Q(prompt="") | ~models.Q(response="")


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
    # The chat thread this memory came from, when it came from one. A plain id, not a foreign
    # key: memories sit below chat, and chat detaches them when it deletes a thread.
    thread_id = models.UUIDField(null=True, blank=True, db_index=True)
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
    # sha256 of the normalised content (services.content_hash): the same text after
    # normalisation is stored once per scope.
    content_hash = models.CharField(max_length=64)
    # A similar memory of the same scope the embedding task found
    # (services.memories_link_near_duplicates): linked, never merged, since similar text can
    # say different things.
    near_duplicate_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="near_duplicates"
    )
    # Bytes of text and metadata this memory stores (quota and stats).
    size_bytes = models.PositiveIntegerField(default=0)
    embedding_status = models.CharField(
        max_length=16, choices=EmbeddingStatus.choices, default=EmbeddingStatus.PENDING
    )
    embedding_model = models.CharField(max_length=128, blank=True, default="")
    embedding_error = models.TextField(blank=True, default="")
    embedded_at = models.DateTimeField(null=True, blank=True)
    search_vector = models.GeneratedField(
        expression=SearchVector(
            _searched_text("title"), _searched_text("content"), config=TEXT_SEARCH_CONFIG
        ),
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
            # One memory per text in a scope, a prompt awaiting its response aside: two tabs may
            # ask the same question, and a note may read like a prompt; each answer is its own.
            models.UniqueConstraint(
                fields=["user", "agent_id", "session_id", "content_hash"],
                condition=FOLDED_BY_CONTENT,
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
    # A memory was folded into another (before near duplicates were linked instead, or by an
    # operator): on the survivor old and new content are its text; on the folded one new content
    # is empty, and GET of its id answers with the survivor (selectors.memory_merged_survivor).
    MERGE = "merge", "Merged"
    # Restored to the content of an earlier entry (``reverted_to``), recreated if it was removed.
    REVERT = "revert", "Reverted"


class MemoryHistory(models.Model):
    """One change of a memory, with the text before and after, and what caused it.

    ``memory_id`` is not a foreign key: a deleted memory's history stays readable, and an entry
    that removed a memory (a delete, or the duplicate's side of a merge) keeps a ``snapshot``
    of its other fields so that a revert can recreate it.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    memory_id = models.UUIDField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    event = models.CharField(max_length=16, choices=HistoryEvent.choices)
    old_content = models.TextField(blank=True, default="")
    new_content = models.TextField(blank=True, default="")
    changed_fields = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    # The extraction job that made this change, if one did.
    job = models.ForeignKey(
        "ExtractionJob", on_delete=models.SET_NULL, null=True, blank=True, related_name="history"
    )
    # Merge entries: the other memory (the survivor, seen from the duplicate, and vice versa).
    related_memory_id = models.UUIDField(null=True, blank=True)
    # Revert entries: the entry whose content was restored.
    reverted_to = models.UUIDField(null=True, blank=True)
    snapshot = models.JSONField(default=dict, blank=True)
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


class KeywordStatistics(models.Model):
    """A heavy user's word statistics, as of ``refreshed_at``: how many memories they had, their
    average length in distinct lexemes, and (``TermStatistic``) how many memories hold each
    word that is not rare. The keyword leg reads them to find candidates through the rarer words
    of a query first (``search/keyword_plan.py``); refreshed by ``term_statistics_refresh``.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="keyword_statistics",
    )
    memories = models.PositiveIntegerField()
    average_length = models.FloatField()
    refreshed_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "keyword statistics"

    def __str__(self) -> str:
        return f"{self.memories} memories at {self.refreshed_at:%Y-%m-%d %H:%M}"


class TermStatistic(models.Model):
    """How many of a heavy user's memories held ``lexeme`` (a parsed, stemmed word) at the last
    refresh. Words held by fewer than ``TERM_STATISTICS_MIN_DOCUMENTS`` are not kept: a word
    missing here is rare, and the keyword leg reads all its memories."""

    statistics = models.ForeignKey(
        KeywordStatistics,
        on_delete=models.CASCADE,
        related_name="terms",
        db_column="user_id",
        db_index=False,  # the unique constraint's index leads with it
    )
    lexeme = models.TextField()
    documents = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["statistics", "lexeme"], name="memories_one_term_per_user"
            )
        ]

    def __str__(self) -> str:
        return f"{self.lexeme}: {self.documents}"


class SearchGeneration(models.Model):
    """A number that changes with every write to a user's memories or their vectors, so that a
    copy of their search data held in a process (``search/resident.py``) knows whether it is
    still current: read at generation g, it is current while the user's generation is g.

    Database triggers set it (migration 0007), from one sequence: every statement that inserts,
    updates or deletes memories or chunks, however it is made (the ORM, COPY, a cascade, the
    shell), and never the same number twice, not even after a rolled-back write. A plain id, not
    a foreign key: the row is written while a user's memories are deleted, user deletion
    included, and an orphan number harms nothing.

    The first write of a transaction locks the user's row here until it commits, so that two
    writers cannot both commit with the copy none the wiser. A transaction that writes memories
    should therefore take the locks it needs first, as the services do (memory rows locked in
    id order before any write): one that wrote, then waited for a row another writer of the
    same user holds, could deadlock with it."""

    user_id = models.UUIDField(primary_key=True)
    generation = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.user_id}: {self.generation}"


class MemorySummary(models.Model):
    """The cached profile of what a user's memories are about (``memories/summary.py``): the
    extractive one (``text``, recomputed after every change) and the one the user's model
    wrote from their memories (``written_text``, rewritten when they changed enough)."""

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
    written_text = models.TextField(blank=True)
    written_by = models.CharField(max_length=200, blank=True, help_text="The model that wrote it.")
    written_at = models.DateTimeField(null=True, blank=True)
    # The memories the model was given (it wrote from these alone): one deleted drops the text.
    written_from = models.JSONField(default=list, blank=True)
    changes_since_written = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "memory summaries"

    def __str__(self) -> str:
        return f"Summary of {self.user_id}"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class JobTrigger(models.TextChoices):
    API = "api", "API request"
    CHAT = "chat", "Chat exchange"
    CAPTURE = "capture", "Captured prompt and response"
    RERUN = "rerun", "Re-run by an operator"


class ExtractionJob(models.Model):
    """One run of fact extraction over a conversation, and what it did to the user's memories.

    ``operations`` lists one decision per extracted fact (``memories/extraction/`` says what
    each holds); the memories it changed name the job in their history. ``run_token`` is set
    by the worker that claimed the job: only that worker may apply its decisions.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="extraction_jobs"
    )
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    trigger = models.CharField(max_length=16, choices=JobTrigger.choices, default=JobTrigger.API)
    rerun_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="reruns"
    )
    # The scope the facts are compared within and stored in.
    agent_id = models.CharField(max_length=255, blank=True, default="")
    session_id = models.CharField(max_length=255, blank=True, default="")
    # Copied onto every memory the job adds.
    metadata = models.JSONField(default=dict, blank=True)
    messages = models.JSONField(default=list)
    model = models.CharField(max_length=200)
    prompt_version = models.CharField(max_length=32)
    facts = models.JSONField(default=list, blank=True)
    operations = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True, default="")
    # How many times a worker claimed it (more than one: a stale run was taken over).
    attempts = models.PositiveSmallIntegerField(default=0)
    run_token = models.UUIDField(null=True, blank=True, editable=False)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    # Milliseconds spent in LLM calls; the rest of the run is search, decisions and writes.
    llm_ms = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["user", "-created_at"], name="memories_job_user_created"),
            models.Index(fields=["status", "created_at"], name="memories_job_status_created"),
        ]

    def __str__(self) -> str:
        return f"Extraction {self.pk} ({self.status})"

    @property
    def duration_ms(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds() * 1000, 2)


class CaptureReceipt(models.Model):
    """The ``Idempotency-Key`` a prompt capture came with: the same key again (a client's retry
    after a lost answer) answers with the same memory instead of storing another."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    memory = models.ForeignKey(Memory, on_delete=models.CASCADE, related_name="+")
    # SHA-256 of the capture the key first came with: the key sent again with another is refused.
    # Empty on receipts written before it was kept (any capture matches them).
    fingerprint = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="memories_capture_receipt_key")
        ]

    def __str__(self) -> str:
        return f"{self.key} → {self.memory_id}"
