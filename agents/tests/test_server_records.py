"""``records: server``: the tasks and projects agents act on the user's tasks and projects on
the server, through POST /api/v1/chat and the real tool loop against the fake model. A task an
agent creates is a draft the user approves; deletions and archiving wait for the user's
confirmation, and are applied on the server once confirmed."""

import inspect
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.services import api_key_create
from agents.registry import TurnContext, registry
from agents.tests.conftest import CHAT_URL, tool_messages
from tasks.models import Comment, Project, Task, TaskSource
from tasks.tests.factories import ProjectFactory, TaskFactory
from testing.fake_openai import Reply

pytestmark = pytest.mark.django_db
CONFIRM_URL = "/api/v1/agents/actions/confirm"


def ask(client, message: str, agent: str = "tasks", context: dict | None = None):
    body = {"message": message, "agents": [agent], "records": "server", "context": context or {}}
    return client.post(CHAT_URL, body, format="json")


def test_a_chat_turn_creates_a_server_task_the_user_then_approves(
    pro_client, pro_user, llm_upstream
):
    project = ProjectFactory(user=pro_user, name="Health")
    llm_upstream.script(
        Reply.tool_call(
            "create_task",
            {"title": "Call the dentist", "priority": "high", "project_id": str(project.pk)},
        ),
        Reply(text="I added 'Call the dentist'; approve it to keep it."),
    )

    response = ask(pro_client, "Add a task to call the dentist")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["actions"] == [] and body["proposed_actions"] == []
    task = Task.objects.get(user=pro_user)
    assert (task.title, task.priority, task.project_id) == ("Call the dentist", "high", project.pk)
    assert task.source == TaskSource.AGENT
    assert task.is_ai_suggested is True and task.is_approved is False  # the user's to approve
    [applied] = body["applied"]
    assert applied["type"] == "create_record" and applied["table"] == "tasks"
    assert applied["data"]["id"] == str(task.pk) and applied["data"]["is_approved"] is False
    told = tool_messages(llm_upstream.chat_requests[1])[0]["content"]
    assert told["created"]["id"] == str(task.pk) and "approval" in told["status"]

    approved = pro_client.patch(f"/api/v1/tasks/{task.pk}", {"is_approved": True}, format="json")

    assert approved.status_code == 200, approved.content
    assert approved.json()["is_approved"] is True


def test_the_tools_read_the_users_server_tasks_not_the_context_nor_anyone_elses(
    pro_client, pro_user, other_user, llm_upstream, context
):
    mine = TaskFactory(user=pro_user, title="Water the plants", status="todo")
    TaskFactory(user=pro_user, title="Old chore", status="done")
    TaskFactory(user=other_user, title="Someone else's task", status="todo")
    llm_upstream.script(
        Reply.tool_call("list_tasks", {"status": "todo"}),
        Reply.tool_call("update_task", {"task_id": str(mine.pk), "status": "in_progress"}),
        Reply(text="Started watering."),
    )

    response = ask(pro_client, "start my open task", context=context)

    assert response.status_code == 200, response.content
    listed = tool_messages(llm_upstream.chat_requests[1])[0]["content"]
    assert [t["id"] for t in listed["tasks"]] == [str(mine.pk)]  # not t-1 from the context
    mine.refresh_from_db()
    assert mine.status == "in_progress"
    assert response.json()["applied"][0]["data"]["status"] == "in_progress"


def test_another_users_task_is_unknown_to_the_tools(pro_client, other_user, llm_upstream):
    theirs = TaskFactory(user=other_user, title="Theirs")
    llm_upstream.script(
        Reply.tool_call("update_task", {"task_id": str(theirs.pk), "title": "Mine now"}),
        Reply(text="I could not find it."),
    )

    response = ask(pro_client, "rename that task")

    assert response.status_code == 200, response.content
    told = tool_messages(llm_upstream.chat_requests[1])[0]["content"]
    assert "No task" in told["error"]
    theirs.refresh_from_db()
    assert theirs.title == "Theirs" and response.json()["applied"] == []


def test_deleting_a_task_waits_for_the_users_confirmation(pro_client, pro_user, llm_upstream):
    task = TaskFactory(user=pro_user, title="Obsolete")
    llm_upstream.script(
        Reply.tool_call("delete_task", {"task_id": str(task.pk)}),
        Reply(text="Deleting it awaits your confirmation."),
    )

    body = ask(pro_client, "delete the obsolete task").json()

    [proposal] = body["proposed_actions"]
    assert proposal["on_server"] is True and proposal["data"] == {"id": str(task.pk)}
    assert body["applied"] == [] and Task.objects.filter(pk=task.pk).exists()

    confirmed = pro_client.post(CONFIRM_URL, {"ids": [proposal["id"]]}, format="json")
    again = pro_client.post(CONFIRM_URL, {"ids": [proposal["id"]]}, format="json")

    assert confirmed.status_code == 200, confirmed.content
    [action] = confirmed.json()["actions"]
    assert action == {
        "type": "delete_record",
        "table": "tasks",
        "data": {"id": str(task.pk)},
        "applied": True,
    }
    assert again.json() == confirmed.json()
    assert not Task.objects.filter(pk=task.pk).exists()


def test_a_project_is_archived_never_deleted_and_only_once_confirmed(
    pro_client, pro_user, llm_upstream
):
    project = ProjectFactory(user=pro_user, name="Brochure")
    llm_upstream.script(
        Reply.tool_call("delete_project", {"project_id": str(project.pk)}),
        Reply.tool_call("update_project", {"project_id": str(project.pk), "status": "archived"}),
        Reply(text="Both wait for you."),
    )

    body = ask(pro_client, "get rid of the brochure project", agent="projects").json()

    assert len(body["proposed_actions"]) == 2
    project.refresh_from_db()
    assert project.is_archived is False

    ids = [p["id"] for p in body["proposed_actions"]]
    confirmed = pro_client.post(CONFIRM_URL, {"ids": ids}, format="json")

    assert confirmed.status_code == 200, confirmed.content
    assert all(a["applied"] for a in confirmed.json()["actions"])
    project = Project.objects.get(pk=project.pk)  # still there
    assert project.is_archived is True and project.archived_at is not None


def run_tool(agent: str, tool: str, arguments: dict, owner, data: dict | None = None):
    """One tool run as the loop runs it: awaited on an event loop whose database work comes back
    to this thread (the test's transaction)."""
    context = TurnContext(data or {}, owner=owner)

    async def run():
        outcome = registry.get(agent).tool(tool).run(dict(arguments), context)
        return await outcome if inspect.isawaitable(outcome) else outcome

    return async_to_sync(run)()


def test_due_today_is_the_users_day_and_comments_are_kept_on_the_server(pro_user, other_user):
    berlin = ZoneInfo("Europe/Berlin")
    today = timezone.now().astimezone(berlin).replace(hour=12, minute=0, second=0, microsecond=0)
    due = TaskFactory(user=pro_user, title="Due today", due_at=today)
    TaskFactory(user=pro_user, title="Done today", due_at=today, status="done")
    TaskFactory(user=pro_user, title="Tomorrow", due_at=today + timedelta(days=1))
    TaskFactory(user=other_user, title="Theirs", due_at=today)
    profile = {"user_profile": {"timezone": "Europe/Berlin"}}

    listed = run_tool("tasks", "list_tasks_due_today", {}, pro_user, profile).result
    added = run_tool(
        "tasks", "add_task_comment", {"task_id": str(due.pk), "content": "Call first"}, pro_user
    )
    comment = Comment.objects.get(task=due)
    read = run_tool("tasks", "list_task_comments", {"task_id": str(due.pk)}, pro_user).result
    dropped = run_tool("tasks", "delete_task_comment", {"comment_id": str(comment.pk)}, pro_user)

    assert [t["title"] for t in listed["tasks"]] == ["Due today"]
    assert added.applied[0]["data"]["add_comment"]["content"] == "Call first"
    assert [c["content"] for c in read["comments"]] == ["Call first"]
    assert dropped.actions == () and dropped.proposals[0]["data"]["delete_comment"] == str(
        comment.pk
    )
    assert Comment.objects.filter(pk=comment.pk).exists()  # until the user confirms


def key_client(user, scopes: list[str]) -> APIClient:
    _, secret = api_key_create(user=user, name="agents", scopes=scopes)
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=secret)
    return client


def test_an_api_key_reaches_the_server_records_only_with_tasks_write(pro_user, llm_upstream):
    task = TaskFactory(user=pro_user, title="Private chore", status="todo")
    llm_upstream.script(Reply.tool_call("list_tasks", {}), Reply(text="Listed."))

    chat_only = ask(key_client(pro_user, ["chat"]), "list my tasks")
    allowed = ask(key_client(pro_user, ["chat", "tasks:write"]), "list my tasks")

    assert chat_only.status_code == 403, chat_only.content
    assert chat_only.json()["error"]["details"]["required_scope"] == "tasks:write"
    assert allowed.status_code == 200, allowed.content
    listed = tool_messages(llm_upstream.chat_requests[1])[0]["content"]
    assert [t["id"] for t in listed["tasks"]] == [str(task.pk)]  # only the allowed turn read them


def test_confirming_a_server_deletion_needs_tasks_write(pro_client, pro_user, llm_upstream):
    task = TaskFactory(user=pro_user, title="Obsolete")
    llm_upstream.script(
        Reply.tool_call("delete_task", {"task_id": str(task.pk)}),
        Reply(text="Deleting it awaits your confirmation."),
    )
    [proposal] = ask(pro_client, "delete the obsolete task").json()["proposed_actions"]

    refused = key_client(pro_user, ["chat"]).post(
        CONFIRM_URL, {"ids": [proposal["id"]]}, format="json"
    )

    assert refused.status_code == 403
    assert refused.json()["error"]["details"]["required_scope"] == "tasks:write"
    assert Task.objects.filter(pk=task.pk).exists()
