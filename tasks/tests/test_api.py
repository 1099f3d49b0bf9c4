"""The tasks API through its URLs: CRUD, isolation, filters, ordering, pages, the error shape."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from tasks import services
from tasks.models import Task, TaskStatus
from tasks.tests.factories import ProjectFactory, TaskFactory

pytestmark = pytest.mark.django_db
TASKS = "/api/v1/tasks"
PROJECTS = "/api/v1/projects"


def _error_code(response) -> str:
    return response.json()["error"]["code"]


def test_create_read_update_delete_a_task(auth_client, user):
    created = auth_client.post(
        TASKS,
        {"title": "Write the report", "priority": "high", "difficulty": 3},
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["experience_points"] == 60
    assert body["status"] == "todo" and body["source"] == "user"

    url = f"{TASKS}/{body['id']}"
    assert auth_client.get(url).json()["title"] == "Write the report"
    changed = auth_client.patch(url, {"title": "Write the final report"}, format="json")
    assert changed.status_code == 200 and changed.json()["title"] == "Write the final report"
    assert auth_client.delete(url).status_code == 204
    assert auth_client.get(url).status_code == 404


def test_another_users_task_is_not_found(auth_client, other_user):
    theirs = TaskFactory(user=other_user)
    url = f"{TASKS}/{theirs.pk}"
    for response in (
        auth_client.get(url),
        auth_client.patch(url, {"title": "mine now"}, format="json"),
        auth_client.delete(url),
        auth_client.get(f"{url}/comments"),
        auth_client.post(f"{url}/comments", {"content": "hi"}, format="json"),
    ):
        assert response.status_code == 404
        assert _error_code(response) == "NOT_FOUND"
    assert Task.objects.get(pk=theirs.pk).title == theirs.title


def test_another_users_project_cannot_hold_my_task(auth_client, other_user):
    theirs = ProjectFactory(user=other_user)
    response = auth_client.post(TASKS, {"title": "x", "project_id": str(theirs.pk)}, format="json")
    assert response.status_code == 400
    assert "project_id" in response.json()["error"]["details"]
    assert auth_client.get(f"{PROJECTS}/{theirs.pk}").status_code == 404


def test_invalid_input_uses_the_error_shape(auth_client):
    response = auth_client.post(
        TASKS, {"title": "x", "difficulty": 6, "time_zone": "Mars/Olympus"}, format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert {"difficulty", "time_zone"} <= set(error["details"])


def test_list_filters_by_status_project_and_search(auth_client, user, other_user):
    project = ProjectFactory(user=user)
    wanted = TaskFactory(user=user, project=project, title="Buy oat milk", status="in_progress")
    TaskFactory(user=user, project=project, title="Buy bread", status="done")
    TaskFactory(user=user, title="Buy oat flakes", status="in_progress")
    TaskFactory(user=other_user, project=None, title="Buy oat milk", status="in_progress")

    response = auth_client.get(
        TASKS,
        {"status": ["todo", "in_progress"], "project_id": str(project.pk), "search": "OAT"},
    )
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [str(wanted.pk)]


def test_due_today_is_the_day_in_the_given_time_zone(auth_client, user):
    zone = ZoneInfo("Pacific/Auckland")
    today = timezone.now().astimezone(zone).date()
    start = datetime.combine(today, datetime.min.time(), tzinfo=zone)
    first_minute = TaskFactory(user=user, due_at=start)
    last_minute = TaskFactory(user=user, due_at=start + timedelta(hours=23, minutes=59))
    TaskFactory(user=user, due_at=start - timedelta(minutes=1))
    TaskFactory(user=user, due_at=start + timedelta(days=1))
    TaskFactory(user=user, due_at=None)

    response = auth_client.get(
        TASKS, {"due_today": "true", "tz": "Pacific/Auckland", "ordering": "due_at"}
    )
    assert [row["id"] for row in response.json()["results"]] == [
        str(first_minute.pk),
        str(last_minute.pk),
    ]


def test_due_before_and_after(auth_client, user):
    now = timezone.now()
    TaskFactory(user=user, due_at=now - timedelta(days=2))
    inside = TaskFactory(user=user, due_at=now)
    TaskFactory(user=user, due_at=now + timedelta(days=2))
    response = auth_client.get(
        TASKS,
        {
            "due_after": (now - timedelta(days=1)).isoformat(),
            "due_before": (now + timedelta(days=1)).isoformat(),
        },
    )
    assert [row["id"] for row in response.json()["results"]] == [str(inside.pk)]


def test_cursor_pages_walk_every_task_once_by_due_date(
    auth_client, user, django_assert_num_queries
):
    now = timezone.now()
    tasks = [TaskFactory(user=user, due_at=now + timedelta(hours=i % 3)) for i in range(7)]
    seen, cursor = [], None
    while True:
        params = {"ordering": "due_at", "limit": 3, **({"cursor": cursor} if cursor else {})}
        # Authentication, the API key check and one query for the page, whatever its size.
        with django_assert_num_queries(2):
            body = auth_client.get(TASKS, params).json()
        seen += [row["id"] for row in body["results"]]
        cursor = body["next_cursor"]
        if not body["has_more"]:
            break
    assert sorted(seen) == sorted(str(task.pk) for task in tasks)
    assert len(seen) == len(set(seen))


def test_a_tampered_cursor_is_a_400(auth_client):
    response = auth_client.get(TASKS, {"cursor": "not-a-cursor"})
    assert response.status_code == 400 and _error_code(response) == "VALIDATION_ERROR"


def test_comments_can_be_added_listed_and_deleted(auth_client, other_client, user):
    task = TaskFactory(user=user)
    url = f"{TASKS}/{task.pk}/comments"
    comment = auth_client.post(url, {"content": "Started on it"}, format="json").json()
    auth_client.post(url, {"content": "Halfway"}, format="json")
    listed = auth_client.get(url).json()["results"]
    assert [row["content"] for row in listed] == ["Started on it", "Halfway"]

    comment_url = f"/api/v1/task-comments/{comment['id']}"
    assert other_client.delete(comment_url).status_code == 404
    assert auth_client.delete(comment_url).status_code == 204
    assert len(auth_client.get(url).json()["results"]) == 1


def test_projects_are_archived_never_deleted(auth_client, user):
    project = auth_client.post(PROJECTS, {"name": "Garden"}, format="json").json()
    task = TaskFactory(user=user, project_id=project["id"])
    url = f"{PROJECTS}/{project['id']}"

    archived = auth_client.delete(url)
    assert archived.status_code == 200 and archived.json()["is_archived"] is True
    assert auth_client.get(PROJECTS).json()["results"] == []
    listed = auth_client.get(PROJECTS, {"include_archived": "true"}).json()["results"]
    assert [row["id"] for row in listed] == [project["id"]]
    assert Task.objects.get(pk=task.pk).project_id is not None

    restored = auth_client.patch(url, {"is_archived": False}, format="json").json()
    assert restored["is_archived"] is False and restored["archived_at"] is None


def test_completing_through_patch_sets_done(auth_client, user):
    task = TaskFactory(user=user)
    response = auth_client.patch(f"{TASKS}/{task.pk}", {"status": "done"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == TaskStatus.DONE
    assert response.json()["completed_at"] is not None


@pytest.mark.parametrize("path", [PROJECTS, "/api/v1/recurrences", "comments"])
def test_other_lists_cost_the_same_queries_whatever_their_length(
    auth_client, user, path, django_assert_num_queries
):
    task = TaskFactory(user=user)
    url = f"{TASKS}/{task.pk}/comments" if path == "comments" else path
    for _ in range(3):
        ProjectFactory(user=user)
        services.comment_create(task=task, user=user, content="note")
        services.recurrence_create(
            user=user,
            rrule="FREQ=WEEKLY",
            starts_on=date(2030, 1, 1),
            at_time=time(9),
            title="weekly",
        )
    # Authentication, then the page (a task's comments: the task, then the page).
    with django_assert_num_queries(3 if path == "comments" else 2):
        assert len(auth_client.get(url).json()["results"]) == 3
