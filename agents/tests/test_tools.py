"""Every agent's tools: write tools give schema-valid actions, read tools answer from the
context, and the guards (read a note before changing it) hold."""

import asyncio
import inspect

import pytest

from agents.actions import action_check
from agents.registry import Tool, TurnContext, registry

# One valid call of every write tool, and the action it must produce.
WRITES = {
    "tasks": [
        ("create_task", {"title": "Pay rent", "priority": "high"}, "create_record"),
        ("update_task", {"task_id": "t-1", "status": "done"}, "update_record"),
        ("delete_task", {"task_id": "t-3"}, "delete_record"),
        ("add_task_comment", {"task_id": "t-1", "content": "Paid."}, "update_record"),
        ("delete_task_comment", {"comment_id": "c-1"}, "update_record"),
    ],
    "checkpoints": [
        ("create_checkpoint", {"project_id": "p-1", "title": "RC", "date": 1}, "create_record"),
        ("update_checkpoint", {"checkpoint_id": "k-1", "is_approved": True}, "update_record"),
        ("delete_checkpoint", {"checkpoint_id": "k-2"}, "delete_record"),
    ],
    "projects": [
        ("create_project", {"name": "Garden"}, "create_record"),
        ("update_project", {"project_id": "p-1", "status": "archived"}, "update_record"),
        ("delete_project", {"project_id": "p-2"}, "delete_record"),
    ],
    "notes": [
        ("create_note", {"title": "Ideas", "content": "- one"}, "create_record"),
        ("delete_note", {"note_id": "n-1"}, "delete_record"),
    ],
    "memory": [("remember", {"content": "Prefers window seats", "tags": ["travel"]}, "remember")],
}


def run(tool: Tool, arguments: dict, context: TurnContext):
    assert tool.arguments_problem(arguments) is None
    outcome = tool.run(dict(arguments), context)
    return asyncio.run(outcome) if inspect.isawaitable(outcome) else outcome


def test_the_agents_have_the_tools_seed_004_lists():
    counts = {spec.name: len(spec.tools) for spec in registry.all()}

    assert counts == {"memory": 2, "tasks": 8, "notes": 5, "projects": 6, "checkpoints": 4}
    assert registry.names[:3] == ["memory", "tasks", "notes"]


@pytest.mark.parametrize(
    ("agent", "tool", "arguments", "kind"),
    [(agent, *write) for agent, writes in WRITES.items() for write in writes],
)
def test_write_tools_produce_schema_valid_actions(agent, tool, arguments, kind, context):
    outcome = run(registry.get(agent).tool(tool), arguments, TurnContext(data=context))

    assert len(outcome.actions) == 1
    action = outcome.actions[0]
    assert action_check(action) == action and action["type"] == kind


def test_read_tools_answer_from_the_context(context):
    ctx = TurnContext(data=context)
    tasks, projects = registry.get("tasks"), registry.get("projects")

    todo = run(tasks.tool("list_tasks"), {"status": "todo"}, ctx).result
    by_priority = run(tasks.tool("list_tasks"), {"order_by": "priority"}, ctx).result
    found = run(tasks.tool("list_tasks"), {"search": "OFFSITE"}, ctx).result
    comments = run(tasks.tool("list_task_comments"), {"task_id": "t-1"}, ctx).result
    active = run(projects.tool("list_projects"), {"client_id": "acme"}, ctx).result
    every = run(projects.tool("list_projects"), {"include_archived": True}, ctx).result
    one = run(projects.tool("get_project"), {"project_id": "p-2"}, ctx).result
    milestones = run(
        registry.get("checkpoints").tool("list_checkpoints"), {"project_id": "p-1"}, ctx
    )
    notes = run(registry.get("notes").tool("list_notes"), {}, ctx).result

    assert [t["id"] for t in todo["tasks"]] == ["t-1"]
    assert [t["id"] for t in by_priority["tasks"]] == ["t-1", "t-3", "t-2"]
    assert [t["id"] for t in found["tasks"]] == ["t-3"]
    assert comments == {
        "comments": [{"id": "c-1", "author": "Ada", "content": "Ask Bob for the total"}]
    }
    assert [p["id"] for p in active["projects"]] == ["p-1"]
    assert every["count"] == 2 and one["project"]["name"] == "Old brochure"
    assert [c["id"] for c in milestones.result["checkpoints"]] == ["k-1", "k-2"]
    assert notes["notes"] == [
        {"id": "n-1", "title": "API design", "project_id": "p-1", "updated_at": None}
    ]
    assert all(not o.actions for o in (run(tasks.tool("list_tasks"), {}, ctx),))


def test_tools_refuse_ids_that_are_not_in_the_context(context):
    ctx = TurnContext(data=context)

    outcome = run(registry.get("tasks").tool("update_task"), {"task_id": "nope", "title": "x"}, ctx)

    assert outcome.actions == () and "No task with id 'nope'" in outcome.result["error"]


def test_no_delete_tool_takes_the_users_confirmation_from_the_model():
    for spec in registry.all():
        for tool in spec.tools:
            assert "confirmed_by_user" not in tool.parameters["properties"], tool.name


def test_a_note_is_read_before_it_is_updated(context):
    ctx = TurnContext(data=context)
    notes = registry.get("notes")
    change = {"note_id": "n-1", "content": "# API\nUse cursors.\nAnd ETags."}

    before = run(notes.tool("update_note"), change, ctx)
    run(notes.tool("get_note"), {"note_id": "n-1"}, ctx)
    after = run(notes.tool("update_note"), change, ctx)

    assert before.actions == () and "get_note" in before.result["error"]
    assert after.actions[0]["data"] == {"id": "n-1", "content": change["content"]}


def test_memory_search_uses_the_users_search(context):
    async def search(query: str, top_k: int) -> list[dict]:
        return [{"id": "m-1", "text": f"found {query} ({top_k})"}]

    outcome = run(
        registry.get("memory").tool("search_memories"),
        {"query": "coffee", "top_k": 2},
        TurnContext(data=context, search_memories=search),
    )

    assert outcome.result == {"memories": [{"id": "m-1", "text": "found coffee (2)"}], "count": 1}


def test_arguments_are_checked_against_the_schema():
    create = registry.get("tasks").tool("create_task")

    assert "title" in create.arguments_problem({"priority": "high"})
    assert "urgent" in create.arguments_problem({"title": "x", "priority": "urgent"})
    assert create.arguments_problem({"title": "x", "colour": "red"}) is not None
