"""The official mcp client creates, lists, changes and completes tasks over /mcp on a live
Engram: the task tools act as the API key's owner, behind tasks:read / tasks:write."""

from datetime import UTC, datetime

import pytest
from mcp import ClientSession

from interop.tests.test_mcp_server import call, over_mcp
from tasks.models import Task, XpEntry
from tasks.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db(transaction=True)
TASK_SCOPES = ("tasks:read", "tasks:write")


def test_an_mcp_client_creates_lists_and_completes_tasks(engram, user, key_for):
    # Noon of today in UTC, whatever the time: "in five minutes" is tomorrow after 23:55.
    due = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0).isoformat()

    async def steps(session: ClientSession) -> dict:
        seen = {}
        seen["created"] = await call(
            session, "create_task", title="Renew the passport", priority="high", due_at=due
        )
        seen["later"] = await call(session, "create_task", title="Plan the trip")
        task_id = seen["created"][1]["id"]
        seen["today"] = await call(session, "list_tasks", due_today=True, tz="UTC")
        seen["all"] = await call(session, "list_tasks", ordering="created_at")
        seen["updated"] = await call(session, "update_task", task_id=task_id, difficulty=3)
        seen["done"] = await call(session, "complete_task", task_id=task_id)
        seen["again"] = await call(session, "complete_task", task_id=task_id)
        seen["open"] = await call(session, "list_tasks", status=["todo"])
        return seen

    seen = over_mcp(engram, key_for(user, TASK_SCOPES), steps)

    assert not any(is_error for is_error, _ in seen.values())
    created = seen["created"][1]
    assert created["title"] == "Renew the passport" and created["source"] == "agent"
    task = Task.objects.get(pk=created["id"], user=user)
    assert [t["id"] for t in seen["today"][1]["results"]] == [created["id"]]
    titles = [t["title"] for t in seen["all"][1]["results"]]
    assert titles == ["Renew the passport", "Plan the trip"]
    assert seen["updated"][1]["experience_points"] == 60  # 10 x 3 x 2 (high)
    assert seen["done"][1]["status"] == "done" and seen["again"][1]["status"] == "done"
    assert [t["title"] for t in seen["open"][1]["results"]] == ["Plan the trip"]
    task.refresh_from_db()
    assert task.status == "done"
    assert list(XpEntry.objects.filter(user=user).values_list("amount", flat=True)) == [60]


def test_scopes_and_isolation_hold_over_mcp(engram, user, other_user, key_for):
    theirs = TaskFactory(user=other_user, title="Theirs")

    async def steps(session: ClientSession) -> dict:
        return {
            "create": await call(session, "create_task", title="Not allowed"),
            "list": await call(session, "list_tasks"),
            "bad": await call(session, "list_tasks", tz="Mars/Olympus"),
        }

    read_only = over_mcp(engram, key_for(user, ("tasks:read",)), steps)
    memories_key = over_mcp(engram, key_for(user), steps)

    async def complete_theirs(session: ClientSession):
        return await call(session, "complete_task", task_id=str(theirs.pk))

    is_error, refused = over_mcp(engram, key_for(user, TASK_SCOPES), complete_theirs)

    assert is_error and refused["error"]["code"] == "NOT_FOUND"

    is_error, error = read_only["create"]
    assert is_error and error["error"]["code"] == "PERMISSION_DENIED"
    assert error["error"]["details"]["required_scope"] == "tasks:write"
    assert read_only["list"] == (False, {"results": [], "next_cursor": None})
    assert read_only["bad"][0] and read_only["bad"][1]["error"]["code"] == "VALIDATION_ERROR"
    assert memories_key["list"][1]["error"]["code"] == "PERMISSION_DENIED"
    assert not Task.objects.filter(user=user).exists()
    assert Task.objects.get(pk=theirs.pk).status == "todo"
