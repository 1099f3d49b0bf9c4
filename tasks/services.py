"""Writes of tasks, projects, comments, recurrence rules and the XP ledger.

Subtask rules: a task is at most ``MAX_DEPTH`` levels deep (a task, its subtask, the subtask's
subtask); a task cannot be its own ancestor; a task is completed only once none of its subtasks
is open (to do or in progress); an open subtask cannot sit under a done task.
XP: a completion of an approved task grants the task's XP once (tasks.xp); leaving ``done``
takes that grant back with a negative ledger row. A task awaiting approval cannot be completed.
"""

import re
import uuid
from datetime import date, datetime, time, timedelta
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrule, rrulestr
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import User
from core.errors import Conflict, NotFound, ValidationFailed
from tasks.models import (
    OPEN_STATUSES,
    Comment,
    Project,
    RecurrenceRule,
    Task,
    TaskSource,
    TaskStatus,
    XpEntry,
    XpKind,
)
from tasks.xp import task_xp

MAX_DEPTH = 3
RECURRENCE_FREQUENCIES = {"DAILY", "WEEKLY", "MONTHLY", "YEARLY"}
# A rule's INTERVAL and COUNT: RFC 5545 wants positive integers; past these, a step or a series
# outruns the calendar dateutil can walk (a ValueError while generating).
RECURRENCE_MAX_INTERVAL, RECURRENCE_MAX_COUNT = 1_000, 10_000
EARLIEST_START, LATEST_START = date(2000, 1, 1), date(2200, 12, 31)
# The parts that count days, weeks or positions, and their largest value (RFC 5545).
ORDINAL_PARTS = {"BYMONTHDAY": 31, "BYYEARDAY": 366, "BYWEEKNO": 53, "BYSETPOS": 366}
UTC_ZONE = ZoneInfo("UTC")
_UNTIL_UTC = re.compile(r"UNTIL=(\d{8}T\d{6})Z", re.IGNORECASE)
# Occurrences one generation creates at most for one rule (a daily rule needs the horizon's days).
OCCURRENCES_PER_RUN = 100
TASK_FIELDS = {
    "title",
    "description",
    "priority",
    "difficulty",
    "quest_type",
    "due_at",
    "time_zone",
    "is_approved",
}


def time_zone_find(name: str) -> ZoneInfo | None:
    """The IANA time zone ``name`` (``Europe/Berlin``), or None when there is no such zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def time_zone_get(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; an unknown one is a 400 on ``time_zone``."""
    zone = time_zone_find(name)
    if zone is None:
        raise ValidationFailed(
            "Unknown time zone.", details={"time_zone": [f"'{name}' is not an IANA time zone."]}
        )
    return zone


def _task_locked(task: Task) -> Task:
    """``task`` read again and locked until the transaction ends; NotFound when a concurrent
    request deleted it after the view read it."""
    locked = Task.objects.select_for_update().filter(pk=task.pk).first()
    if locked is None:
        raise NotFound("No task with this id.")
    return locked


def _rule_locked(rule: RecurrenceRule) -> RecurrenceRule:
    locked = RecurrenceRule.objects.select_for_update().filter(pk=rule.pk).first()
    if locked is None:
        raise NotFound("No recurrence rule with this id.")
    return locked


def _project_owned(*, user: User, project_id: uuid.UUID | None) -> Project | None:
    if project_id is None:
        return None
    project = Project.objects.filter(user=user, pk=project_id).first()
    if project is None:
        raise ValidationFailed(
            "No such project.", details={"project_id": ["No project of yours has this id."]}
        )
    return project


def _depth(task: Task | None) -> int:
    """How many levels ``task`` sits at (1 for a top-level task; 0 for none)."""
    depth = 0
    while task is not None:
        depth += 1
        task = task.parent
    return depth


def _height(task: Task) -> int:
    """How many levels the subtree under and including ``task`` spans."""
    height, level = 1, [task.pk]
    while ids := list(Task.objects.filter(parent_id__in=level).values_list("pk", flat=True)):
        height, level = height + 1, ids
    return height


def _parent_owned(*, user: User, parent_id: uuid.UUID | None, task: Task | None) -> Task | None:
    """The parent ``task`` may have (``task`` None: a new task), or ValidationFailed."""
    if parent_id is None:
        return None
    # Locked: a completion of the parent waits, and then sees this subtask open.
    parent = (
        Task.objects.select_related("parent__parent")
        .select_for_update(of=("self",))
        .filter(user=user, pk=parent_id)
        .first()
    )
    if parent is None:
        raise ValidationFailed(
            "No such parent task.", details={"parent_id": ["No task of yours has this id."]}
        )
    if task is not None:
        ancestor: Task | None = parent
        while ancestor is not None:
            if ancestor.pk == task.pk:
                raise ValidationFailed(
                    "A task cannot be under itself.",
                    details={"parent_id": ["This would make the task its own ancestor."]},
                )
            ancestor = ancestor.parent
    height = _height(task) if task is not None else 1
    if _depth(parent) + height > MAX_DEPTH:
        raise ValidationFailed(
            f"Tasks nest at most {MAX_DEPTH} levels deep.",
            details={"parent_id": [f"Subtasks nest at most {MAX_DEPTH} levels deep."]},
        )
    return parent


def _refuse_open_under_done(parent: Task | None, status: str) -> None:
    if parent is not None and parent.status == TaskStatus.DONE and status in OPEN_STATUSES:
        raise Conflict(
            "The parent task is done; reopen it before adding or reopening its subtasks.",
            details={"parent_id": str(parent.pk)},
        )


def task_create(
    *,
    user: User,
    title: str,
    description: str = "",
    priority: str = "medium",
    difficulty: int = 1,
    quest_type: str = "side",
    due_at: datetime | None = None,
    time_zone: str = "UTC",
    project_id: uuid.UUID | None = None,
    parent_id: uuid.UUID | None = None,
    is_ai_suggested: bool = False,
    is_approved: bool = True,
    source: str = TaskSource.USER,
) -> Task:
    """A new open task; its XP value follows from difficulty and priority."""
    time_zone_get(time_zone)
    with transaction.atomic():
        project = _project_owned(user=user, project_id=project_id)
        parent = _parent_owned(user=user, parent_id=parent_id, task=None)
        _refuse_open_under_done(parent, TaskStatus.TODO)
        return Task.objects.create(
            user=user,
            title=title,
            description=description,
            priority=priority,
            difficulty=difficulty,
            quest_type=quest_type,
            experience_points=task_xp(difficulty=difficulty, priority=priority),
            due_at=due_at,
            time_zone=time_zone,
            project=project,
            parent=parent,
            is_ai_suggested=is_ai_suggested,
            is_approved=is_approved,
            source=source,
        )


def task_update(*, task: Task, changes: dict[str, Any]) -> Task:
    """Apply ``changes`` (task fields, ``project_id``, ``parent_id``, ``status``); a change of
    status completes, reopens or skips the task by the rules above."""
    with transaction.atomic():
        locked = _task_locked(task)
        fields = {name: value for name, value in changes.items() if name in TASK_FIELDS}
        if "time_zone" in fields:
            time_zone_get(fields["time_zone"])
        if "project_id" in changes:
            fields["project"] = _project_owned(user=locked.user, project_id=changes["project_id"])
        if "parent_id" in changes:
            parent = _parent_owned(user=locked.user, parent_id=changes["parent_id"], task=locked)
            _refuse_open_under_done(parent, changes.get("status", locked.status))
            fields["parent"] = parent
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.experience_points = task_xp(difficulty=locked.difficulty, priority=locked.priority)
        locked.save()
        if "status" in changes and changes["status"] != locked.status:
            _status_change(locked, changes["status"])
        return Task.objects.get(pk=task.pk)


def task_complete(*, task: Task) -> Task:
    """Mark the task done and grant its XP once for this completion; completing a done task
    changes nothing."""
    with transaction.atomic():
        locked = _task_locked(task)
        if locked.status != TaskStatus.DONE:
            _status_change(locked, TaskStatus.DONE)
        return Task.objects.get(pk=task.pk)


def task_reopen(*, task: Task) -> Task:
    """Back to ``todo``; a done task's XP grant is taken back."""
    with transaction.atomic():
        locked = _task_locked(task)
        if locked.status != TaskStatus.TODO:
            _status_change(locked, TaskStatus.TODO)
        return Task.objects.get(pk=task.pk)


def _status_change(task: Task, status: str) -> None:
    """Move the locked ``task`` to ``status``, writing the ledger rows the move implies."""
    now = timezone.now()
    if status == TaskStatus.DONE:
        if not task.is_approved:
            raise Conflict(
                "This suggested task awaits approval; approve it before completing it.",
                details={"is_approved": False},
            )
        open_subtasks = task.children.filter(status__in=OPEN_STATUSES).count()
        if open_subtasks:
            raise Conflict(
                "This task has open subtasks; complete or skip them first.",
                details={"open_subtasks": open_subtasks},
            )
        # Compare-and-set: of two concurrent completions only one changes the row.
        changed = (
            Task.objects.filter(pk=task.pk)
            .exclude(status=TaskStatus.DONE)
            .update(
                status=status, completed_at=now, completions=F("completions") + 1, updated_at=now
            )
        )
        if changed:
            task.refresh_from_db(fields=["completions"])
            _ledger_write(task, XpKind.GRANT, task.experience_points)
        return
    if status in OPEN_STATUSES and task.parent_id is not None:
        # Locked like in _parent_owned: never an open subtask under a parent completed meanwhile.
        parent = Task.objects.select_for_update().get(pk=task.parent_id)
        _refuse_open_under_done(parent, status)
    changed = Task.objects.filter(pk=task.pk, status=TaskStatus.DONE).update(
        status=status, completed_at=None, updated_at=now
    )
    if changed:
        grant = XpEntry.objects.filter(
            task=task, completion=task.completions, kind=XpKind.GRANT
        ).first()
        if grant is not None:
            _ledger_write(task, XpKind.REVOKE, -grant.amount)
        return
    Task.objects.filter(pk=task.pk).update(status=status, updated_at=now)


def _ledger_write(task: Task, kind: str, amount: int) -> None:
    """The ledger row of ``kind`` for the task's current completion; a second one for the same
    completion is dropped by the unique constraint, whatever ran concurrently."""
    XpEntry.objects.bulk_create(
        [
            XpEntry(
                user_id=task.user_id,
                task=task,
                completion=task.completions,
                kind=kind,
                amount=amount,
            )
        ],
        ignore_conflicts=True,
    )


def task_delete(*, task: Task) -> None:
    """Delete the task and its subtasks; XP already earned stays in the ledger."""
    Task.objects.filter(pk=task.pk).delete()


def project_create(*, user: User, name: str, description: str = "") -> Project:
    return Project.objects.create(user=user, name=name, description=description)


def project_update(*, project: Project, changes: dict[str, Any]) -> Project:
    """Rename, describe, archive (``is_archived``) or restore the project."""
    for name in ("name", "description"):
        if name in changes:
            setattr(project, name, changes[name])
    if "is_archived" in changes and changes["is_archived"] != project.is_archived:
        project.is_archived = changes["is_archived"]
        project.archived_at = timezone.now() if project.is_archived else None
    project.save()
    return project


def project_archive(*, project: Project) -> Project:
    """Archive the project; projects are never deleted, so their tasks keep their place."""
    return project_update(project=project, changes={"is_archived": True})


def comment_create(*, task: Task, user: User, content: str) -> Comment:
    return Comment.objects.create(task=task, user=user, content=content)


def comment_delete(*, comment: Comment) -> None:
    comment.delete()


def recurrence_rule_parse(value: str) -> str:
    """The RRULE body of ``value`` (an optional ``RRULE:`` prefix removed), or ValidationFailed.
    Only DAILY, WEEKLY, MONTHLY and YEARLY rules; DTSTART comes from ``starts_on``/``at_time``."""
    body = value.strip().removeprefix("RRULE:")

    def refuse(reason: str) -> ValidationFailed:
        return ValidationFailed("The recurrence rule is not valid.", details={"rrule": [reason]})

    if not body or any(c in body for c in "\r\n:"):
        raise refuse("Give one RFC 5545 RRULE, e.g. FREQ=WEEKLY;BYDAY=MO.")
    parts = dict(part.partition("=")[::2] for part in body.upper().split(";"))
    if parts.get("FREQ") not in RECURRENCE_FREQUENCIES:
        raise refuse(f"FREQ must be one of {', '.join(sorted(RECURRENCE_FREQUENCIES))}.")
    for name, most in (("INTERVAL", RECURRENCE_MAX_INTERVAL), ("COUNT", RECURRENCE_MAX_COUNT)):
        value = parts.get(name, "1")
        # ASCII digits only: "²" is a digit to str.isdigit() and a ValueError to int().
        if not (value.isascii() and value.isdigit() and 1 <= int(value) <= most):
            raise refuse(f"{name} must be a whole number from 1 to {most}.")
    for name, most in ORDINAL_PARTS.items():
        # RFC 5545: ±1 to the most, never 0 (dateutil takes BYMONTHDAY=0 for every day).
        for value in filter(None, parts.get(name, "").split(",")):
            number = value.removeprefix("-").removeprefix("+")
            if not (number.isascii() and number.isdigit() and 1 <= int(number) <= most):
                raise refuse(f"{name} values are whole numbers from 1 to {most}, or -1 to -{most}.")
    try:
        # The first occurrences, walked as generation walks them: dateutil parses some rules
        # it cannot follow.
        first = list(islice(_rule_of(body, datetime.combine(EARLIEST_START, time(9))), 3))
    except (ValueError, TypeError, OverflowError) as exc:
        raise refuse(str(exc)) from None
    if not first:
        raise refuse("This rule never occurs.")
    return body


def _starts_on_check(starts_on: date) -> None:
    # dateutil walks every occurrence from the start to find the next one: a start centuries
    # back would cost seconds at every generation.
    if not EARLIEST_START <= starts_on <= LATEST_START:
        raise ValidationFailed(
            "The start date is out of range.",
            details={"starts_on": [f"Between {EARLIEST_START} and {LATEST_START}."]},
        )


def _rule_of(body: str, dtstart: datetime, zone: ZoneInfo = UTC_ZONE) -> rrule:
    """The rule walked on wall-clock time (``dtstart`` naive). An UNTIL in UTC (``…Z``, RFC
    5545's form for a rule with a time zone) is the wall time it is in ``zone``; dateutil
    refuses it beside a naive start."""

    def local(match: re.Match) -> str:
        until = datetime.strptime(match[1], "%Y%m%dT%H%M%S").replace(tzinfo=UTC_ZONE)
        return f"UNTIL={until.astimezone(zone):%Y%m%dT%H%M%S}"

    return rrulestr(_UNTIL_UTC.sub(local, body), dtstart=dtstart)


RULE_FIELDS = {
    "rrule",
    "time_zone",
    "starts_on",
    "at_time",
    "is_active",
    "title",
    "description",
    "priority",
    "difficulty",
    "quest_type",
}


def recurrence_create(
    *,
    user: User,
    rrule: str,
    starts_on: date,
    at_time: time,
    title: str,
    time_zone: str = "UTC",
    description: str = "",
    priority: str = "medium",
    difficulty: int = 1,
    quest_type: str = "daily",
    project_id: uuid.UUID | None = None,
) -> RecurrenceRule:
    """A new rule; its first occurrences exist once this returns."""
    time_zone_get(time_zone)
    _starts_on_check(starts_on)
    with transaction.atomic():
        rule = RecurrenceRule.objects.create(
            user=user,
            rrule=recurrence_rule_parse(rrule),
            time_zone=time_zone,
            starts_on=starts_on,
            at_time=at_time,
            title=title,
            description=description,
            priority=priority,
            difficulty=difficulty,
            quest_type=quest_type,
            project=_project_owned(user=user, project_id=project_id),
        )
        recurrence_generate(rule=rule)
    return rule


def recurrence_update(*, rule: RecurrenceRule, changes: dict[str, Any]) -> RecurrenceRule:
    """Change the rule from now on: its future occurrences still to do are made again from the
    new rule; past ones, and any already done or skipped, are left as they are."""
    with transaction.atomic():
        locked = _rule_locked(rule)
        if "time_zone" in changes:
            time_zone_get(changes["time_zone"])
        if "rrule" in changes:
            changes = {**changes, "rrule": recurrence_rule_parse(changes["rrule"])}
        if "starts_on" in changes:
            _starts_on_check(changes["starts_on"])
        for name, value in changes.items():
            if name in RULE_FIELDS:
                setattr(locked, name, value)
        if "project_id" in changes:
            locked.project = _project_owned(user=locked.user, project_id=changes["project_id"])
        now = timezone.now()
        _future_occurrences_delete(locked, now)
        locked.generated_until = now
        locked.save()
        if locked.is_active:
            recurrence_generate(rule=locked, now=now)
    return locked


def recurrence_delete(*, rule: RecurrenceRule) -> None:
    """Delete the rule and its future occurrences still to do; the rest stay as plain tasks."""
    with transaction.atomic():
        _future_occurrences_delete(rule, timezone.now())
        rule.delete()


def _future_occurrences_delete(rule: RecurrenceRule, now: datetime) -> None:
    Task.objects.filter(recurrence=rule, status=TaskStatus.TODO, due_at__gt=now).delete()


def recurrence_generate(*, rule: RecurrenceRule, now: datetime | None = None) -> None:
    """Create the rule's occurrences due from where the last run stopped (or ``now``) until
    TASKS_RECURRENCE_HORIZON_DAYS ahead. Safe to run twice or
    concurrently: an occurrence is unique per rule and local date."""
    now = now or timezone.now()
    zone = ZoneInfo(rule.time_zone)
    after = rule.generated_until or now
    horizon = now + timedelta(days=settings.TASKS_RECURRENCE_HORIZON_DAYS)
    if after >= horizon or not rule.is_active:
        return
    # The rule runs on wall-clock time in its zone: 09:00 is 09:00 before and after DST.
    schedule = _rule_of(rule.rrule, datetime.combine(rule.starts_on, rule.at_time), zone)
    local_after = after.astimezone(zone).replace(tzinfo=None)
    local_horizon = horizon.astimezone(zone).replace(tzinfo=None)
    xp = task_xp(difficulty=rule.difficulty, priority=rule.priority)
    occurrences = []
    for local in schedule.xafter(local_after, count=OCCURRENCES_PER_RUN):
        if local > local_horizon:
            break
        occurrences.append(
            Task(
                user_id=rule.user_id,
                project_id=rule.project_id,
                title=rule.title,
                description=rule.description,
                priority=rule.priority,
                difficulty=rule.difficulty,
                quest_type=rule.quest_type,
                experience_points=xp,
                due_at=local.replace(tzinfo=zone),
                time_zone=rule.time_zone,
                source=TaskSource.RECURRENCE,
                recurrence=rule,
                occurrence_date=local.date(),
            )
        )
    Task.objects.bulk_create(occurrences, ignore_conflicts=True)
    moved = (
        RecurrenceRule.objects.filter(pk=rule.pk)
        .filter(Q(generated_until__isnull=True) | Q(generated_until__lt=horizon))
        .update(generated_until=horizon)
    )
    if moved:
        rule.generated_until = horizon  # the caller's answer shows it (it showed null)
