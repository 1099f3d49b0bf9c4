"""Engram's MCP task tools: list, create, update and complete the user's tasks.

Like the memory tools (``tools``), each validates its arguments with the tasks API's own
serializers and calls the same services and selectors as ``/api/v1/tasks``, as the owner of the
request's API key; reads need the ``tasks:read`` scope, writes ``tasks:write``. Tasks are
deleted through the API only: an assistant completes or skips them.
"""

from typing import Annotated, Any

from mcp_types import CallToolResult, ToolAnnotations
from pydantic import Field

from accounts.models import ApiScope, User
from interop.mcp_server.tools import _call, _json, _validated, server
from tasks import selectors, services
from tasks.api import serializers as s

READ, WRITE = ApiScope.TASKS_READ.value, ApiScope.TASKS_WRITE.value

TaskId = Annotated[str, Field(description="The task's id (a UUID).")]
Title = Annotated[str, Field(description="What to do, short.")]
Priority = Annotated[str | None, Field(description="low, medium (default), high or urgent.")]
Difficulty = Annotated[int | None, Field(description="1 (default) to 5: sets the task's XP.")]
DueAt = Annotated[
    str | None, Field(description="When it is due, ISO 8601 with an offset (2030-03-01T09:00Z).")
]
TimeZone = Annotated[str | None, Field(description="The IANA zone it is planned in (UTC).")]
ProjectId = Annotated[str | None, Field(description="A project's id (a UUID).")]


def _task(task) -> dict[str, Any]:
    return _json(s.TaskSerializer(task).data)


def _line(task: dict[str, Any]) -> str:
    due = f", due {task['due_at']}" if task["due_at"] else ""
    return f"[{task['id']}] {task['title']} ({task['status']}, {task['priority']}{due})"


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
async def list_tasks(
    status: Annotated[
        list[str] | None, Field(description="Any of todo, in_progress, done, skipped.")
    ] = None,
    due_today: Annotated[bool, Field(description="Only tasks due today in `tz`.")] = False,
    tz: Annotated[str, Field(description="Your IANA time zone, for due_today.")] = "UTC",
    search: Annotated[str | None, Field(description="Words in title or description.")] = None,
    project_id: ProjectId = None,
    ordering: Annotated[
        str, Field(description="-created_at (default), due_at, -due_at, updated_at…")
    ] = "-created_at",
    cursor: Annotated[str | None, Field(description="next_cursor of the previous page.")] = None,
    limit: Annotated[int, Field(description="Page size, 1-100.")] = 20,
) -> CallToolResult:
    """List the user's tasks (filters as GET /api/v1/tasks), a page at a time."""

    def work(user: User) -> tuple[Any, str]:
        arguments = {"status": status, "due_today": due_today, "tz": tz, "search": search}
        arguments |= {"project_id": project_id, "ordering": ordering}
        arguments |= {"cursor": cursor, "limit": limit}
        query = _validated(s.TaskListQuerySerializer, arguments)
        page = selectors.task_page(
            user=user,
            filters=query.to_filters(),
            ordering=query.validated_data["ordering"],
            cursor=query.validated_data.get("cursor") or None,
            limit=query.validated_data["limit"],
        )
        results = [_task(task) for task in page.items]
        more = f"\nMore: cursor={page.next_cursor}" if page.next_cursor else ""
        text = "\n".join([f"{len(results)} tasks:", *map(_line, results)]) + more
        return {"results": results, "next_cursor": page.next_cursor}, text

    return await _call(READ, work)


@server.tool(annotations=ToolAnnotations(destructive_hint=False))
async def create_task(
    title: Title,
    description: Annotated[str | None, Field(description="Details.")] = None,
    priority: Priority = None,
    difficulty: Difficulty = None,
    due_at: DueAt = None,
    time_zone: TimeZone = None,
    project_id: ProjectId = None,
    parent_id: Annotated[str | None, Field(description="Makes it a subtask of this task.")] = None,
) -> CallToolResult:
    """Create a task for the user (source: agent)."""

    def work(user: User) -> tuple[Any, str]:
        arguments = {"title": title, "description": description, "priority": priority}
        arguments |= {"difficulty": difficulty, "due_at": due_at, "time_zone": time_zone}
        arguments |= {"project_id": project_id, "parent_id": parent_id, "source": "agent"}
        data = _validated(s.TaskCreateSerializer, arguments).validated_data
        body = _task(services.task_create(user=user, **data))
        return body, f"Created {_line(body)}"

    return await _call(WRITE, work)


@server.tool(annotations=ToolAnnotations(destructive_hint=False, idempotent_hint=True))
async def update_task(
    task_id: TaskId,
    title: Annotated[str | None, Field(description="The new title.")] = None,
    description: Annotated[str | None, Field(description="The new details.")] = None,
    status: Annotated[
        str | None, Field(description="todo, in_progress, done (grants XP) or skipped.")
    ] = None,
    priority: Priority = None,
    difficulty: Difficulty = None,
    due_at: DueAt = None,
    time_zone: TimeZone = None,
    project_id: ProjectId = None,
) -> CallToolResult:
    """Change a task (only the fields given). Status done completes it: refused while it has
    open subtasks or awaits the user's approval."""

    def work(user: User) -> tuple[Any, str]:
        task = selectors.task_get(user=user, task_id=task_id)
        arguments = {"title": title, "description": description, "status": status}
        arguments |= {"priority": priority, "difficulty": difficulty, "due_at": due_at}
        arguments |= {"time_zone": time_zone, "project_id": project_id}
        changes = _validated(s.TaskUpdateSerializer, arguments).validated_data
        body = _task(services.task_update(task=task, changes=dict(changes)))
        return body, f"Updated {_line(body)}"

    return await _call(WRITE, work)


@server.tool(annotations=ToolAnnotations(destructive_hint=False, idempotent_hint=True))
async def complete_task(task_id: TaskId) -> CallToolResult:
    """Mark a task done and grant its XP once (completing a done task changes nothing)."""

    def work(user: User) -> tuple[Any, str]:
        task = services.task_complete(task=selectors.task_get(user=user, task_id=task_id))
        body = _task(task)
        return body, f"Done: {_line(body)} (+{body['experience_points']} XP)"

    return await _call(WRITE, work)
