"""Reads of tasks, projects, comments, rules and XP, already scoped to their owner."""

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import User
from core.ownership import get_owned_object
from core.pagination import Page, paginate
from tasks.models import (
    OPEN_STATUSES,
    Comment,
    Project,
    RecurrenceRule,
    Task,
    TaskStatus,
    XpEntry,
    XpKind,
)
from tasks.xp import Level, level_of

# A streak is counted back this many days at most: the stats read a bounded window of the ledger.
STREAK_MAX_DAYS = 366
# ordering parameter -> (field, descending). Ordering by due date lists only tasks that have one.
TASK_ORDERINGS = {
    "-created_at": ("created_at", True),
    "created_at": ("created_at", False),
    "-updated_at": ("updated_at", True),
    "updated_at": ("updated_at", False),
    "due_at": ("due_at", False),
    "-due_at": ("due_at", True),
}


@dataclass(frozen=True)
class TaskFilters:
    statuses: list[str] = field(default_factory=list)
    project_id: uuid.UUID | None = None
    parent_id: uuid.UUID | None = None
    top_level: bool = False
    due_before: datetime | None = None
    due_after: datetime | None = None
    # The local day in this zone whose tasks are due (``due_today``).
    due_on_day_in: ZoneInfo | None = None
    search: str = ""
    is_approved: bool | None = None


def local_day_bounds(zone: ZoneInfo, day: date) -> tuple[datetime, datetime]:
    """The instants ``day`` starts and ends in ``zone`` (23 or 25 hours apart on DST days)."""
    start = datetime.combine(day, time.min, tzinfo=zone)
    return start, datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)


def task_get(*, user: User, task_id: Any) -> Task:
    """The task ``task_id`` of ``user``; NotFound for another's, a missing or a malformed id."""
    return get_owned_object(Task.objects.all(), owner=user, pk=task_id)


def task_list(*, user: User, filters: TaskFilters) -> QuerySet[Task]:
    tasks = Task.objects.filter(user=user)
    if filters.statuses:
        tasks = tasks.filter(status__in=filters.statuses)
    if filters.project_id:
        tasks = tasks.filter(project_id=filters.project_id)
    if filters.parent_id:
        tasks = tasks.filter(parent_id=filters.parent_id)
    if filters.top_level:
        tasks = tasks.filter(parent__isnull=True)
    if filters.due_before:
        tasks = tasks.filter(due_at__lt=filters.due_before)
    if filters.due_after:
        tasks = tasks.filter(due_at__gte=filters.due_after)
    if filters.due_on_day_in is not None:
        today = timezone.now().astimezone(filters.due_on_day_in).date()
        start, end = local_day_bounds(filters.due_on_day_in, today)
        tasks = tasks.filter(due_at__gte=start, due_at__lt=end)
    if filters.search:
        tasks = tasks.filter(
            Q(title__icontains=filters.search) | Q(description__icontains=filters.search)
        )
    if filters.is_approved is not None:
        tasks = tasks.filter(is_approved=filters.is_approved)
    return tasks


def task_page(
    *, user: User, filters: TaskFilters, ordering: str, cursor: str | None, limit: int
) -> Page[Task]:
    order_field, descending = TASK_ORDERINGS[ordering]
    tasks = task_list(user=user, filters=filters)
    if order_field == "due_at":
        tasks = tasks.filter(due_at__isnull=False)
    return paginate(
        tasks, cursor=cursor, limit=limit, order_field=order_field, descending=descending
    )


def project_page(
    *, user: User, include_archived: bool, cursor: str | None, limit: int
) -> Page[Project]:
    projects = Project.objects.filter(user=user)
    if not include_archived:
        projects = projects.filter(is_archived=False)
    return paginate(projects, cursor=cursor, limit=limit)


def comment_page(*, task: Task, cursor: str | None, limit: int) -> Page[Comment]:
    """The task's comments, oldest first (a conversation reads down)."""
    return paginate(task.comments.all(), cursor=cursor, limit=limit, descending=False)


def recurrence_page(*, user: User, cursor: str | None, limit: int) -> Page[RecurrenceRule]:
    return paginate(RecurrenceRule.objects.filter(user=user), cursor=cursor, limit=limit)


@dataclass(frozen=True)
class TaskStats:
    total_xp: int
    level: Level
    streak_days: int
    # (local day, completions that day still standing), oldest first.
    completed_per_day: list[tuple[date, int]]


def _completions_per_day(*, user: User, zone: ZoneInfo, since: date) -> dict[date, int]:
    """Completions still standing per local day in ``zone``, from ``since``: one grouped query
    over the user's ledger rows of the window (the ``(user, created_at)`` index), a grant
    counting unless its reversal exists (the ``(task, completion, kind)`` unique index)."""
    start, _ = local_day_bounds(zone, since)
    revoked = XpEntry.objects.filter(
        task_id=OuterRef("task_id"), completion=OuterRef("completion"), kind=XpKind.REVOKE
    )
    rows = (
        XpEntry.objects.filter(user=user, kind=XpKind.GRANT, created_at__gte=start)
        .filter(~Exists(revoked))
        .annotate(day=TruncDate("created_at", tzinfo=zone))
        .values("day")
        .annotate(completed=Count("pk"))
        .order_by()
    )
    return {row["day"]: row["completed"] for row in rows}


def task_stats(*, user: User, zone: ZoneInfo, days: int) -> TaskStats:
    """XP, level, streak and completions per day, from the ledger, with days in ``zone``.

    A completion counts on the day it was granted unless it was later taken back. The streak is
    the number of consecutive days, ending today (or yesterday, when nothing is done yet today),
    with at least one such completion, counted back at most STREAK_MAX_DAYS. Two aggregate
    queries, however long the ledger: nothing is read row by row."""
    total = XpEntry.objects.filter(user=user).aggregate(total=Sum("amount"))["total"] or 0
    today = timezone.now().astimezone(zone).date()
    window = max(days, STREAK_MAX_DAYS + 1)
    per_day = _completions_per_day(user=user, zone=zone, since=today - timedelta(days=window - 1))
    day = today if per_day.get(today) else today - timedelta(days=1)
    streak = 0
    while per_day.get(day) and streak < STREAK_MAX_DAYS:
        streak, day = streak + 1, day - timedelta(days=1)
    shown = [today - timedelta(days=offset) for offset in range(days - 1, -1, -1)]
    return TaskStats(
        total_xp=total,
        level=level_of(total),
        streak_days=streak,
        completed_per_day=[(day, per_day.get(day, 0)) for day in shown],
    )


def tasks_overview() -> dict[str, int]:
    """Counts across every user, for the operators' dashboard: tasks (open, done, drafts
    awaiting approval) and projects (archived). Two aggregate queries, whatever the size."""
    tasks = Task.objects.aggregate(
        total=Count("pk"),
        open=Count("pk", filter=Q(status__in=OPEN_STATUSES)),
        done=Count("pk", filter=Q(status=TaskStatus.DONE)),
        awaiting_approval=Count("pk", filter=Q(is_approved=False, status__in=OPEN_STATUSES)),
    )
    projects = Project.objects.aggregate(
        projects=Count("pk"), projects_archived=Count("pk", filter=Q(is_archived=True))
    )
    return {**tasks, **projects}
