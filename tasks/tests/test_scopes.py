"""API keys on the tasks API: tasks:read reads, tasks:write writes, and nothing else does."""

import pytest
from rest_framework.test import APIClient

from accounts.services import api_key_create
from tasks.models import Project, Task
from tasks.tests.factories import ProjectFactory, TaskFactory

pytestmark = pytest.mark.django_db


def key_client(user, *scopes: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=api_key_create(user=user, name="k", scopes=list(scopes))[1])
    return client


def test_tasks_read_reads_and_cannot_write(user):
    task = TaskFactory(user=user, title="Mine")
    project = ProjectFactory(user=user)
    reader = key_client(user, "tasks:read")

    reads = [
        reader.get("/api/v1/tasks"),
        reader.get(f"/api/v1/tasks/{task.pk}"),
        reader.get("/api/v1/tasks/stats"),
        reader.get(f"/api/v1/tasks/{task.pk}/comments"),
        reader.get("/api/v1/projects"),
        reader.get("/api/v1/recurrences"),
    ]
    writes = [
        reader.post("/api/v1/tasks", {"title": "No"}, format="json"),
        reader.patch(f"/api/v1/tasks/{task.pk}", {"status": "done"}, format="json"),
        reader.delete(f"/api/v1/tasks/{task.pk}"),
        reader.post(f"/api/v1/tasks/{task.pk}/comments", {"content": "No"}, format="json"),
        reader.delete(f"/api/v1/projects/{project.pk}"),
        reader.post("/api/v1/tasks/suggestions"),
    ]

    assert [r.status_code for r in reads] == [200] * len(reads)
    assert [r.status_code for r in writes] == [403] * len(writes)
    assert {r.json()["error"]["details"]["required_scope"] for r in writes} == {"tasks:write"}
    task.refresh_from_db()
    assert task.status == "todo" and Task.objects.count() == 1
    assert Project.objects.get(pk=project.pk).is_archived is False


def test_tasks_write_writes_and_other_scopes_get_nothing(user):
    writer = key_client(user, "tasks:write")
    memories_only = key_client(user, "memories:read", "memories:write", "chat")

    created = writer.post("/api/v1/tasks", {"title": "Write it"}, format="json")
    refused = [
        memories_only.get("/api/v1/tasks"),
        memories_only.post("/api/v1/tasks", {"title": "No"}, format="json"),
        memories_only.get("/api/v1/projects"),
    ]

    assert created.status_code == 201, created.content
    assert [r.status_code for r in refused] == [403, 403, 403]
    assert {r.json()["error"]["code"] for r in refused} == {"PERMISSION_DENIED"}
    assert list(Task.objects.values_list("title", flat=True)) == ["Write it"]
