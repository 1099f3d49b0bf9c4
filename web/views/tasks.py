"""The tasks page: what is open (soonest due first), a new task, done (with its XP) and undone,
deleted, the model's suggestions approved or dismissed, and the person's level, XP and streak.
Each form calls the tasks services the API calls (docs/tasks.md)."""

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from core.errors import EngramError
from tasks import selectors as task_selectors
from tasks import services as tasks
from tasks.models import OPEN_STATUSES, Task, TaskStatus
from web.forms import TaskForm
from web.views.common import acted, form_error, page, post_only, render_page

# Open tasks, and suggestions, shown at once; past it the API pages through the rest.
SHOWN = 200
RECENTLY_DONE = 10


def _page(request: HttpRequest, form: TaskForm | None = None) -> HttpResponse:
    user = request.user

    def listed(**filters: Any) -> QuerySet[Task]:
        return task_selectors.task_list(user=user, filters=task_selectors.TaskFilters(**filters))

    open_tasks = list(
        listed(statuses=list(OPEN_STATUSES), is_approved=True)
        .select_related("project")
        .order_by(F("due_at").asc(nulls_last=True), "-created_at")[: SHOWN + 1]
    )
    context = {
        "open_tasks": open_tasks[:SHOWN],
        "more": len(open_tasks) > SHOWN,
        "suggested": listed(statuses=list(OPEN_STATUSES), is_approved=False).order_by(
            "-created_at"
        )[:SHOWN],
        "done": listed(statuses=[TaskStatus.DONE]).order_by("-completed_at")[:RECENTLY_DONE],
        # Days of the streak counted in UTC: the page does not know the reader's zone.
        "stats": task_selectors.task_stats(user=user, zone=tasks.UTC_ZONE, days=1),
        "form": form or TaskForm(),
    }
    return render_page(request, "web/tasks.html", context, status=400 if form else 200)


@page("tasks")
def task_list(request: HttpRequest) -> HttpResponse:
    return _page(request)


@post_only
@page("tasks")
def task_new(request: HttpRequest) -> HttpResponse:
    form = TaskForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            task = tasks.task_create(
                user=request.user,
                title=data["title"],
                due_at=data["due"],
                time_zone=data["time_zone"],
                quest_type=data["quest_type"],
                priority=data["priority"],
                difficulty=data["difficulty"],
            )
        except EngramError as error:
            form_error(form, error)
        else:
            messages.success(request, f"Added: {task.title} ({task.experience_points} XP).")
            return redirect("web:tasks")
    return _page(request, form=form)


def _changed(
    request: HttpRequest, task_id: str, change: Callable[[Task], object], success: str
) -> HttpResponse:
    """Apply ``change`` to the person's task ``task_id`` and go back to the list."""
    task = task_selectors.task_get(user=request.user, task_id=task_id)
    said = success.format(title=task.title, xp=task.experience_points)
    acted(request, lambda: change(task), said)
    return redirect("web:tasks")


@post_only
@page("tasks")
def task_done(request: HttpRequest, task_id: str) -> HttpResponse:
    return _changed(
        request, task_id, lambda task: tasks.task_complete(task=task), "Done: {title} (+{xp} XP)."
    )


@post_only
@page("tasks")
def task_reopen(request: HttpRequest, task_id: str) -> HttpResponse:
    return _changed(
        request,
        task_id,
        lambda task: tasks.task_reopen(task=task),
        "Open again: {title} (its {xp} XP taken back).",
    )


@post_only
@page("tasks")
def task_approve(request: HttpRequest, task_id: str) -> HttpResponse:
    return _changed(
        request,
        task_id,
        lambda task: tasks.task_update(task=task, changes={"is_approved": True}),
        "Added to your tasks: {title}.",
    )


@post_only
@page("tasks")
def task_delete(request: HttpRequest, task_id: str) -> HttpResponse:
    return _changed(
        request, task_id, lambda task: tasks.task_delete(task=task), "Deleted: {title}."
    )
