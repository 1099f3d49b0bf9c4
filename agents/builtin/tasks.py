"""The tasks agent: tasks and their comments, as the client keeps them (``recent_tasks``), or
the server's own when the request asks for them (``records: server``: builtin.on_server)."""

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agents.builtin import on_server
from agents.builtin.common import (
    FLAG,
    ID,
    MS_TIMESTAMP,
    NO_ARGUMENTS,
    TEXT,
    change_tools,
    created,
    find,
    matching,
    missing,
    parameters,
    with_server_runs,
)
from agents.registry import AgentSpec, Tool, ToolOutcome, TurnContext, registry, write_outcome

KEY = "recent_tasks"
STATUS = {"enum": ["todo", "in_progress", "done"]}
PRIORITY = {"enum": ["high", "medium", "low"]}
ASSIGNEES = {"type": "string", "description": "A JSON-encoded list of names."}
ORDER_BY = {"enum": ["due_date", "priority", "title", "status"]}
_PRIORITY_RANK = {"high": 0, "medium": 1, "low": 2}
TASK_FIELDS = {
    "title": {"type": "string", "minLength": 1, "maxLength": 500},
    "description": TEXT,
    "status": STATUS,
    "priority": PRIORITY,
    "assignees": ASSIGNEES,
    "due_date": MS_TIMESTAMP,
    "project_id": ID,
    "is_ai_suggested": FLAG,
    "is_approved": FLAG,
}


def _list(arguments: dict[str, Any], context: TurnContext) -> ToolOutcome:
    tasks = matching(
        context.records(KEY), project_id=arguments.get("project_id"), status=arguments.get("status")
    )
    if search := (arguments.get("search") or "").lower():
        tasks = [
            t for t in tasks if search in f"{t.get('title', '')} {t.get('description', '')}".lower()
        ]
    order = arguments.get("order_by")
    if order == "priority":
        tasks.sort(key=lambda t: _PRIORITY_RANK.get(t.get("priority"), 3))
    elif order:
        tasks.sort(key=lambda t: (t.get(order) is None, str(t.get(order) or "")))
    return ToolOutcome(result={"tasks": tasks, "count": len(tasks)})


def _today_bounds(context: TurnContext) -> tuple[int, int]:
    """Today's start and end (ms) in the user's time zone (``user_profile.timezone``), else UTC."""
    profile = context.data.get("user_profile") or {}
    try:
        zone = ZoneInfo(str(profile.get("timezone") or "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    start = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    end = start + timedelta(days=1)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def _due_today(arguments: dict[str, Any], context: TurnContext) -> ToolOutcome:
    start, end = _today_bounds(context)
    tasks = [
        t
        for t in context.records(KEY)
        if isinstance(t.get("due_date"), int | float)
        and start <= t["due_date"] < end
        and t.get("status") != "done"
    ]
    return ToolOutcome(result={"tasks": tasks, "count": len(tasks)})


def _comments(arguments: dict[str, Any], context: TurnContext) -> ToolOutcome:
    task = find(context, KEY, arguments["task_id"])
    if task is None:
        return missing("task", arguments["task_id"])
    comments = [c for c in task.get("comments") or [] if isinstance(c, dict)]
    return ToolOutcome(result={"comments": comments})


def _comment_add(arguments: dict[str, Any], context: TurnContext) -> ToolOutcome:
    if find(context, KEY, arguments["task_id"]) is None:
        return missing("task", arguments["task_id"])
    data = {
        "id": arguments["task_id"],
        "add_comment": {k: arguments[k] for k in ("author", "content") if k in arguments},
    }
    return write_outcome(
        {"commented": arguments["task_id"]},
        {"type": "update_record", "table": "tasks", "data": data},
    )


def _comment_delete(arguments: dict[str, Any], context: TurnContext) -> ToolOutcome:
    comment_id = arguments["comment_id"]
    for task in context.records(KEY):
        if any(
            str(c.get("id")) == comment_id
            for c in task.get("comments") or []
            if isinstance(c, dict)
        ):
            data = {"id": str(task.get("id")), "delete_comment": comment_id}
            return write_outcome(
                {"deleted_comment": comment_id},
                {"type": "update_record", "table": "tasks", "data": data},
            )
    return missing("comment", comment_id)


CLIENT_TOOLS = (
    Tool(
        "list_tasks",
        "List the user's tasks, filtered by project, status or a search text, in an order.",
        parameters(
            project_id=ID,
            status=STATUS,
            search={"type": "string", "maxLength": 200},
            order_by=ORDER_BY,
        ),
        _list,
    ),
    Tool(
        "create_task",
        "Create a task. Status todo|in_progress|done, priority high|medium|low, due_date in ms.",
        parameters(["title"], **TASK_FIELDS),
        created("tasks", "task"),
        writes=True,
    ),
    *change_tools("tasks", KEY, "task", TASK_FIELDS),
    Tool("list_tasks_due_today", "List the open tasks due today.", NO_ARGUMENTS, _due_today),
    Tool(
        "list_task_comments",
        "List the comments of one task.",
        parameters(["task_id"], task_id=ID),
        _comments,
    ),
    Tool(
        "add_task_comment",
        "Add a comment to a task.",
        parameters(
            ["task_id", "content"],
            task_id=ID,
            author={"type": "string", "maxLength": 200},
            content={"type": "string", "minLength": 1, "maxLength": 5000},
        ),
        _comment_add,
        writes=True,
    ),
    Tool(
        "delete_task_comment",
        "Delete one comment of a task.",
        parameters(["comment_id"], comment_id=ID),
        _comment_delete,
        writes=True,
    ),
)

TOOLS = with_server_runs(
    CLIENT_TOOLS,
    {
        "list_tasks": on_server.tasks_list,
        "create_task": on_server.task_create,
        "update_task": on_server.task_update,
        "delete_task": on_server.task_delete,
        "list_tasks_due_today": on_server.tasks_due_today,
        "list_task_comments": on_server.task_comments,
        "add_task_comment": on_server.task_comment_add,
        "delete_task_comment": on_server.task_comment_delete,
    },
)

AGENT = registry.register(
    AgentSpec(
        name="tasks",
        description="Manages tasks and comments: list, create, update, delete, due today, "
        "comments.",
        prompt_id="agent.tasks",
        tools=TOOLS,
        position=1,
        examples=(
            "Add a task to call the dentist tomorrow",
            "What do I have due today?",
            "Mark the invoice task as done",
            "Comment on the design review task that I approved it",
            "Show my high priority todos",
            "Create a to-do for buying a birthday present",
            "Tick off the laundry task",
            "Which of my tasks are overdue?",
            "Change the due date of the slides task",
            "Remove the task about the old server",
            "Give the budget task a low priority",
            "What are my open tasks for the marketing project?",
            "Add a comment to the task saying it is blocked",
            "Show me the comments on the bug fix task",
            "Put booking a haircut on my to-do list",
            "Set the status of the review task to in progress",
            "Assign the testing task to Sam",
            "Add a reminder to pay the electricity bill",
            "What should I work on today?",
            "I finished the report, mark it done",
        ),
    )
)
