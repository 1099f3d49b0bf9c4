"""Tasks and quests: projects, tasks with subtasks, comments, recurrence rules and the XP ledger.

A task's XP value is derived from its difficulty and priority (tasks.xp); the ledger, not the
task, says what a user has earned: a grant row per completion, a negative row per reopening.
"""

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

TITLE_MAX_CHARS = 300
DESCRIPTION_MAX_CHARS = 20_000
COMMENT_MAX_CHARS = 10_000
TIME_ZONE_MAX_CHARS = 64


class TaskStatus(models.TextChoices):
    TODO = "todo", "To do"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"
    SKIPPED = "skipped", "Skipped"


# A task in one of these still needs doing: it blocks its parent's completion.
OPEN_STATUSES = (TaskStatus.TODO, TaskStatus.IN_PROGRESS)


class Priority(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


class QuestType(models.TextChoices):
    MAIN = "main", "Main quest"
    SIDE = "side", "Side quest"
    DAILY = "daily", "Daily quest"


class TaskSource(models.TextChoices):
    USER = "user", "User"
    AGENT = "agent", "Agent"
    SUGGESTION = "suggestion", "Suggestion"
    RECURRENCE = "recurrence", "Recurrence"


# Who may create a task through the API; suggestions and recurrences come from the server.
TASK_CREATORS = [
    (TaskSource.USER.value, TaskSource.USER.label),
    (TaskSource.AGENT.value, TaskSource.AGENT.label),
]


class Project(models.Model):
    """A group of tasks. Archived rather than deleted: an agent never removes one."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="projects"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=DESCRIPTION_MAX_CHARS)
    is_archived = models.BooleanField(default=False)
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return self.name


class RecurrenceRule(models.Model):
    """An RFC 5545 RRULE (``FREQ=WEEKLY;BYDAY=MO``) read in ``time_zone`` from ``starts_on`` at
    ``at_time``, wall-clock: 09:00 stays 09:00 across DST. Each occurrence is a Task copied from
    the template fields; ``generated_until`` is how far ahead occurrences exist."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="task_recurrences"
    )
    rrule = models.CharField(max_length=500)
    time_zone = models.CharField(max_length=TIME_ZONE_MAX_CHARS, default="UTC")
    starts_on = models.DateField()
    at_time = models.TimeField()
    is_active = models.BooleanField(default=True)
    generated_until = models.DateTimeField(null=True, blank=True)
    # The template of every occurrence.
    title = models.CharField(max_length=TITLE_MAX_CHARS)
    description = models.TextField(blank=True, max_length=DESCRIPTION_MAX_CHARS)
    priority = models.CharField(max_length=16, choices=Priority.choices, default=Priority.MEDIUM)
    difficulty = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    quest_type = models.CharField(max_length=16, choices=QuestType.choices, default=QuestType.DAILY)
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="recurrences"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["user", "-created_at"]),
            models.Index(fields=["is_active", "generated_until"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(difficulty__gte=1, difficulty__lte=5),
                name="tasks_recurrence_difficulty_1_to_5",
            )
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.rrule})"


class Task(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tasks"
    )
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    title = models.CharField(max_length=TITLE_MAX_CHARS)
    description = models.TextField(blank=True, max_length=DESCRIPTION_MAX_CHARS)
    status = models.CharField(max_length=16, choices=TaskStatus.choices, default=TaskStatus.TODO)
    priority = models.CharField(max_length=16, choices=Priority.choices, default=Priority.MEDIUM)
    difficulty = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    quest_type = models.CharField(max_length=16, choices=QuestType.choices, default=QuestType.SIDE)
    experience_points = models.PositiveIntegerField(default=0)
    due_at = models.DateTimeField(null=True, blank=True)
    time_zone = models.CharField(max_length=TIME_ZONE_MAX_CHARS, default="UTC")
    is_ai_suggested = models.BooleanField(default=False)
    is_approved = models.BooleanField(default=True)
    source = models.CharField(max_length=16, choices=TaskSource.choices, default=TaskSource.USER)
    recurrence = models.ForeignKey(
        RecurrenceRule,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="occurrences",
    )
    occurrence_date = models.DateField(null=True, blank=True)
    # How many times the task was completed: the ledger's key for "once per completion".
    completions = models.PositiveIntegerField(default=0)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["user", "-created_at"]),
            models.Index(fields=["user", "due_at"]),
            models.Index(fields=["user", "status", "due_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(difficulty__gte=1, difficulty__lte=5),
                name="tasks_task_difficulty_1_to_5",
            ),
            # One occurrence per rule and local date, however many beats run at once.
            models.UniqueConstraint(
                fields=["recurrence", "occurrence_date"],
                condition=Q(recurrence__isnull=False),
                name="tasks_task_one_occurrence_per_date",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class Comment(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="comments")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="task_comments"
    )
    content = models.TextField(max_length=COMMENT_MAX_CHARS)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["task", "created_at"])]

    def __str__(self) -> str:
        return f"Comment {self.pk}"


class XpKind(models.TextChoices):
    GRANT = "grant", "Granted on completion"
    REVOKE = "revoke", "Taken back on reopening"


class XpEntry(models.Model):
    """One line of a user's XP ledger. ``completion`` is the task's completion number: a
    completion grants once and a reopening takes back once, whatever runs concurrently."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="xp_entries"
    )
    # Kept when the task is deleted: XP earned stays earned.
    task = models.ForeignKey(
        Task, null=True, blank=True, on_delete=models.SET_NULL, related_name="xp_entries"
    )
    completion = models.PositiveIntegerField()
    kind = models.CharField(max_length=8, choices=XpKind.choices)
    amount = models.IntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "XP entries"
        indexes = [models.Index(fields=["user", "created_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["task", "completion", "kind"], name="tasks_xp_once_per_completion"
            )
        ]

    def __str__(self) -> str:
        return f"{self.amount:+d} XP"
