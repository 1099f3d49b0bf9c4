"""The tasks and projects agents on the server's records (``records: server`` in the request):
the same tools, acting on the user's tasks and projects through the tasks app's services and
selectors instead of on the records the client sends.

- A task an agent creates is a draft (``is_ai_suggested``, awaiting approval, ``source:
  agent``): it exists at once, and the user approves it (``PATCH /api/v1/tasks/{id}``
  ``{"is_approved": true}``) or dismisses it; the model cannot approve it for them.
- Deleting a task, deleting or archiving a project, and deleting a comment are proposals, as on
  the client: applied on the server only once the user confirms them
  (``agents.services.agent_actions_confirm``). A project is never deleted by an agent: its
  deletion, confirmed, archives it.
- Records are read and written in the Adiuva shape the tools describe (``due_date`` in ms,
  ``status`` active/archived for projects), so both modes answer the model alike.
"""

import dataclasses
import uuid
from datetime import UTC, datetime
from typing import Any

from django.db.models import Case, IntegerField, Value, When

from accounts.models import User
from agents.registry import ToolOutcome, TurnContext
from core.errors import EngramError
from tasks import selectors as task_selectors
from tasks import services as task_services
from tasks.models import OPEN_STATUSES, Comment, Project, Task, TaskSource

LIST_LIMIT = 50
# The create/update fields the server keeps; assignees and approval are not the model's to set.
SERVER_TASK_FIELDS = ("title", "description", "status", "priority", "due_date", "project_id")
TASK_TABLE, PROJECT_TABLE = "tasks", "projects"
_ORDER = {"due_date": "due_at", "title": "title", "status": "status"}
_PRIORITY_RANK = Case(
    When(priority="urgent", then=Value(0)),
    When(priority="high", then=Value(1)),
    When(priority="medium", then=Value(2)),
    default=Value(3),
    output_field=IntegerField(),
)


def _ms(at: datetime | None) -> int | None:
    return int(at.timestamp() * 1000) if at else None


def task_record(task: Task) -> dict[str, Any]:
    """A server task in the shape the tasks agent's tools describe."""
    return {
        "id": str(task.pk),
        "title": task.title,
        "description": task.description,
        "status": task.status,
        "priority": task.priority,
        "due_date": _ms(task.due_at),
        "project_id": str(task.project_id) if task.project_id else None,
        "parent_id": str(task.parent_id) if task.parent_id else None,
        "is_ai_suggested": task.is_ai_suggested,
        "is_approved": task.is_approved,
        "experience_points": task.experience_points,
    }


def project_record(project: Project) -> dict[str, Any]:
    return {
        "id": str(project.pk),
        "name": project.name,
        "description": project.description,
        "status": "archived" if project.is_archived else "active",
    }


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _missing(kind: str, record_id: Any) -> ToolOutcome:
    return ToolOutcome.refused(f"No {kind} with id '{record_id}' on the server.")


def _refused(exc: EngramError) -> ToolOutcome:
    """A service's refusal, told to the model (it can explain or try otherwise)."""
    return ToolOutcome(result={"error": exc.message, "code": str(exc.code), "details": exc.details})


def _task_of(user: User, task_id: Any) -> Task | None:
    pk = _uuid(task_id)
    return Task.objects.filter(user=user, pk=pk).first() if pk else None


def _project_of(user: User, project_id: Any) -> Project | None:
    pk = _uuid(project_id)
    return Project.objects.filter(user=user, pk=pk).first() if pk else None


def _due_at(ms: Any) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, tz=UTC) if ms is not None else None


def _applied(kind: str, table: str, record: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "table": table, "data": record}


def _proposal(kind: str, table: str, data: dict[str, Any]) -> dict[str, Any]:
    """A change that waits for the user, applied on the server when confirmed."""
    return {"type": kind, "table": table, "data": data, "on_server": True}


# --- tasks ---------------------------------------------------------------------------------


def tasks_list(arguments: dict[str, Any], context: TurnContext) -> ToolOutcome:
    user = context.owner
    filters = task_selectors.TaskFilters(
        statuses=[arguments["status"]] if arguments.get("status") else [],
        search=arguments.get("search") or "",
    )
    if arguments.get("project_id"):
        if (project_id := _uuid(arguments["project_id"])) is None:
            return _missing("project", arguments["project_id"])
        filters = dataclasses.replace(filters, project_id=project_id)
    tasks = task_selectors.task_list(user=user, filters=filters)
    order = arguments.get("order_by")
    if order == "priority":
        tasks = tasks.order_by(_PRIORITY_RANK, "-created_at")
    elif order:
        tasks = tasks.order_by(_ORDER[order], "-created_at")
    else:
        tasks = tasks.order_by("-created_at")
    found = [task_record(t) for t in tasks[:LIST_LIMIT]]
    return ToolOutcome(result={"tasks": found, "count": len(found)})


def tasks_due_today(arguments: dict[str, Any], context: TurnContext) -> ToolOutcome:
    """The open tasks due today, the day in the client's ``user_profile.timezone`` (else UTC)."""
    user = context.owner
    profile = context.data.get("user_profile") or {}
    zone = task_services.time_zone_find(str(profile.get("timezone") or "UTC"))
    zone = zone or task_services.time_zone_get("UTC")
    filters = task_selectors.TaskFilters(statuses=list(OPEN_STATUSES), due_on_day_in=zone)
    tasks = task_selectors.task_list(user=user, filters=filters).order_by("due_at")
    found = [task_record(t) for t in tasks[:LIST_LIMIT]]
    return ToolOutcome(result={"tasks": found, "count": len(found)})


def task_create(arguments: dict[str, Any], context: TurnContext) -> ToolOutcome:
    user = context.owner
    project_id = _uuid(arguments["project_id"]) if arguments.get("project_id") else None
    if arguments.get("project_id") and project_id is None:
        return _missing("project", arguments["project_id"])
    try:
        task = task_services.task_create(
            user=user,
            title=arguments["title"],
            description=arguments.get("description", ""),
            priority=arguments.get("priority", "medium"),
            due_at=_due_at(arguments.get("due_date")),
            project_id=project_id,
            is_ai_suggested=True,
            is_approved=False,
            source=TaskSource.AGENT,
        )
    except EngramError as exc:
        return _refused(exc)
    if arguments.get("status") == "in_progress":
        task = task_services.task_update(task=task, changes={"status": "in_progress"})
    record = task_record(task)
    result = {
        "created": record,
        "status": "Created as a draft: it awaits the user's approval before it counts.",
    }
    return ToolOutcome(result=result, applied=(_applied("create_record", TASK_TABLE, record),))


def task_update(arguments: dict[str, Any], context: TurnContext) -> ToolOutcome:
    user = context.owner
    task_id = arguments.pop("task_id")
    task = _task_of(user, task_id)
    if task is None:
        return _missing("task", task_id)
    changes: dict[str, Any] = {
        k: arguments[k] for k in ("title", "description", "status", "priority") if k in arguments
    }
    if "due_date" in arguments:
        changes["due_at"] = _due_at(arguments["due_date"])
    if "project_id" in arguments:
        if (project_id := _uuid(arguments["project_id"])) is None:
            return _missing("project", arguments["project_id"])
        changes["project_id"] = project_id
    ignored = sorted(set(arguments) - set(SERVER_TASK_FIELDS))
    if not changes:
        return ToolOutcome.refused(
            "Nothing to change on the server: give title, description, status, priority, "
            "due_date or project_id (approval is the user's own)."
        )
    try:
        task = task_services.task_update(task=task, changes=changes)
    except EngramError as exc:
        return _refused(exc)
    record = task_record(task)
    result: dict[str, Any] = {"updated": record}
    if ignored:
        result["ignored"] = ignored
    return ToolOutcome(result=result, applied=(_applied("update_record", TASK_TABLE, record),))


def task_delete(arguments: dict[str, Any], context: TurnContext) -> ToolOutcome:
    user = context.owner
    task = _task_of(user, arguments["task_id"])
    if task is None:
        return _missing("task", arguments["task_id"])
    data = {"id": str(task.pk)}
    return ToolOutcome(
        result={"deleted": str(task.pk)},
        proposals=(_proposal("delete_record", TASK_TABLE, data),),
    )


def task_comments(arguments: dict[str, Any], context: TurnContext) -> ToolOutcome:
    user = context.owner
    task = _task_of(user, arguments["task_id"])
    if task is None:
        return _missing("task", arguments["task_id"])
    comments = [
        {"id": str(c.pk), "content": c.content, "created": c.created_at.isoformat()}
        for c in task.comments.order_by("created_at")[:LIST_LIMIT]
    ]
    return ToolOutcome(result={"comments": comments})


def task_comment_add(arguments: dict[str, Any], context: TurnContext) -> ToolOutcome:
    user = context.owner
    task = _task_of(user, arguments["task_id"])
    if task is None:
        return _missing("task", arguments["task_id"])
    comment = task_services.comment_create(task=task, user=user, content=arguments["content"])
    data = {"id": str(task.pk), "add_comment": {"id": str(comment.pk), "content": comment.content}}
    return ToolOutcome(
        result={"commented": str(task.pk)},
        applied=(_applied("update_record", TASK_TABLE, data),),
    )


def task_comment_delete(arguments: dict[str, Any], context: TurnContext) -> ToolOutcome:
    user = context.owner
    pk = _uuid(arguments["comment_id"])
    comment = Comment.objects.filter(task__user=user, pk=pk).first() if pk else None
    if comment is None:
        return _missing("comment", arguments["comment_id"])
    data = {"id": str(comment.task_id), "delete_comment": str(comment.pk)}
    return ToolOutcome(
        result={"deleted_comment": str(comment.pk)},
        proposals=(_proposal("update_record", TASK_TABLE, data),),
    )


# --- projects ------------------------------------------------------------------------------


def projects_list(arguments: dict[str, Any], context: TurnContext) -> ToolOutcome:
    user = context.owner
    projects = Project.objects.filter(user=user).order_by("-created_at")
    if not arguments.get("include_archived"):
        projects = projects.filter(is_archived=False)
    found = [project_record(p) for p in projects[:LIST_LIMIT]]
    return ToolOutcome(result={"projects": found, "count": len(found)})


def projects_list_all(arguments: dict[str, Any], context: TurnContext) -> ToolOutcome:
    return projects_list({"include_archived": True}, context)


def project_get(arguments: dict[str, Any], context: TurnContext) -> ToolOutcome:
    user = context.owner
    project = _project_of(user, arguments["project_id"])
    if project is None:
        return _missing("project", arguments["project_id"])
    return ToolOutcome(result={"project": project_record(project)})


def project_create(arguments: dict[str, Any], context: TurnContext) -> ToolOutcome:
    user = context.owner
    record = project_record(task_services.project_create(user=user, name=arguments["name"]))
    return ToolOutcome(
        result={"created": record},
        applied=(_applied("create_record", PROJECT_TABLE, record),),
    )


def _archive_proposal(project: Project) -> ToolOutcome:
    data = {"id": str(project.pk), "status": "archived"}
    return ToolOutcome(
        result={"archived": str(project.pk)},
        proposals=(_proposal("update_record", PROJECT_TABLE, data),),
    )


def project_update(arguments: dict[str, Any], context: TurnContext) -> ToolOutcome:
    user = context.owner
    project = _project_of(user, arguments["project_id"])
    if project is None:
        return _missing("project", arguments["project_id"])
    if arguments.get("status") == "archived" and not project.is_archived:
        if "name" in arguments:
            return ToolOutcome.refused("Rename and archive in two calls: archiving waits.")
        return _archive_proposal(project)
    changes: dict[str, Any] = {"name": arguments["name"]} if "name" in arguments else {}
    if arguments.get("status") == "active":
        changes["is_archived"] = False
    if not changes:
        return ToolOutcome.refused("Nothing to change: give name or status.")
    record = project_record(task_services.project_update(project=project, changes=changes))
    return ToolOutcome(
        result={"updated": record},
        applied=(_applied("update_record", PROJECT_TABLE, record),),
    )


def project_delete(arguments: dict[str, Any], context: TurnContext) -> ToolOutcome:
    """Projects are never deleted by an agent: the deletion, once confirmed, archives it."""
    user = context.owner
    project = _project_of(user, arguments["project_id"])
    if project is None:
        return _missing("project", arguments["project_id"])
    return _archive_proposal(project)


# --- confirmed proposals -------------------------------------------------------------------


def proposal_apply(*, user: User, action: dict[str, Any]) -> None:
    """Apply a confirmed server proposal (from this module) to ``user``'s records; one already
    applied (a task gone, a project archived) changes nothing, so confirming twice is safe."""
    data = action["data"]
    if action["table"] == TASK_TABLE and action["type"] == "delete_record":
        if task := _task_of(user, data["id"]):
            task_services.task_delete(task=task)
    elif action["table"] == TASK_TABLE and "delete_comment" in data:
        pk = _uuid(data["delete_comment"])
        if comment := Comment.objects.filter(task__user=user, pk=pk).first() if pk else None:
            task_services.comment_delete(comment=comment)
    elif action["table"] == PROJECT_TABLE and data.get("status") == "archived":
        project = _project_of(user, data["id"])
        if project is not None and not project.is_archived:
            task_services.project_archive(project=project)
