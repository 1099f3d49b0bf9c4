import uuid

from django.conf import settings
from django.db import models


class Thread(models.Model):
    """A conversation; it holds a separate message history per model (see ModelContext)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="threads"
    )
    title = models.CharField(max_length=200, blank=True)
    title_generated = models.BooleanField(
        default=False, help_text="The title was written for the user, not by them."
    )
    # The model speaks as this persona (its prompt and temperature) instead of the profile's.
    persona = models.ForeignKey(
        "accounts.Persona", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        indexes = [
            models.Index(fields=["user", "-updated_at"]),
            models.Index(fields=["user", "-created_at"]),
        ]

    def __str__(self) -> str:
        return self.title or str(self.id)


class ModelContext(models.Model):
    """What one model remembers of a thread beyond its recent messages: a rolling summary."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="contexts")
    model_id = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    summary_tokens = models.PositiveIntegerField(default=0)
    # Messages created at or before this instant are covered by the summary.
    summarized_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["thread", "model_id"], name="one_context_per_model")
        ]

    def __str__(self) -> str:
        return f"{self.thread_id} / {self.model_id}"


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"

    class Status(models.TextChoices):
        STREAMING = "streaming"
        COMPLETE = "complete"
        CANCELLED = "cancelled"
        ERROR = "error"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="messages")
    model_id = models.CharField(max_length=200)
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETE)
    error = models.TextField(blank=True)
    temperature = models.FloatField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    memories_used = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["thread", "model_id", "created_at"])]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:40]}"
