import uuid

from django.conf import settings
from django.db import models


class RunOutcome(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class RunMode(models.TextChoices):
    DIRECT = "direct", "Direct"
    PLAN = "plan", "Plan"


class AgentRun(models.Model):
    """One agent turn, kept to debug it: the route, the tools called, timing and outcome.

    No message, context or answer text is stored (only sizes), and runs expire
    (``AGENTS_RUN_RETENTION_DAYS``).
    """

    Outcome = RunOutcome
    Mode = RunMode

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_runs"
    )
    mode = models.CharField(max_length=10, choices=Mode.choices)
    transport = models.CharField(max_length=10, default="http")  # http or websocket
    agents = models.JSONField(default=list)  # the agents that ran, in order
    route_method = models.CharField(max_length=10, blank=True)  # llm, local or explicit
    route_confidence = models.FloatField(null=True, blank=True)
    model_id = models.CharField(max_length=200, blank=True)
    persona_id = models.UUIDField(null=True, blank=True)
    tools_called = models.JSONField(default=list)
    actions = models.PositiveIntegerField(default=0)
    iterations = models.PositiveIntegerField(default=0)
    message_chars = models.PositiveIntegerField(default=0)
    sanitized_cuts = models.PositiveIntegerField(default=0)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    duration_ms = models.PositiveIntegerField(default=0)
    llm_ms = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.RUNNING)
    error_code = models.CharField(max_length=50, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at"])]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{'+'.join(self.agents) or '?'} ({self.outcome})"


class ProposedAction(models.Model):
    """A destructive action an agent proposed, kept until the user confirms it by its id (and
    expiring with its run): only the client, after showing it to the user, confirms it."""

    id = models.UUIDField(primary_key=True, editable=False)  # the id the answer carried
    run = models.ForeignKey(AgentRun, on_delete=models.CASCADE, related_name="proposals")
    action = models.JSONField()  # as ACTION_SCHEMA describes it
    confirmed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.action.get('type')} {self.action.get('table', '')} ({self.run_id})"
