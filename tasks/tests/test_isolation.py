"""Another user's project, comment and recurrence rule are a 404 on every endpoint that takes
one, and never listed (tasks themselves: test_api.py)."""

from datetime import date, time

import pytest

from tasks import services
from tasks.models import Comment, Project, RecurrenceRule
from tasks.tests.factories import ProjectFactory, TaskFactory
from testing.isolation import assert_invisible_to

pytestmark = pytest.mark.django_db


def test_another_users_project_comment_and_rule_are_not_found(auth_client, other_user):
    project = ProjectFactory(user=other_user, name="Theirs")
    task = TaskFactory(user=other_user)
    comment = Comment.objects.create(task=task, user=other_user, content="Theirs")
    rule = services.recurrence_create(
        user=other_user, rrule="FREQ=DAILY", starts_on=date(2030, 1, 1), at_time=time(9), title="T"
    )

    assert_invisible_to(
        auth_client,
        [
            ("GET", f"/api/v1/projects/{project.pk}"),
            ("PATCH", f"/api/v1/projects/{project.pk}"),
            ("DELETE", f"/api/v1/projects/{project.pk}"),
            ("DELETE", f"/api/v1/task-comments/{comment.pk}"),
            ("GET", f"/api/v1/recurrences/{rule.pk}"),
            ("PATCH", f"/api/v1/recurrences/{rule.pk}"),
            ("DELETE", f"/api/v1/recurrences/{rule.pk}"),
        ],
    )

    for url in ("/api/v1/tasks", "/api/v1/projects", "/api/v1/recurrences"):
        assert auth_client.get(url).json()["results"] == [], url
    assert auth_client.get("/api/v1/tasks/stats").json()["total_xp"] == 0
    assert Project.objects.get(pk=project.pk).is_archived is False
    assert Comment.objects.filter(pk=comment.pk).exists()
    assert RecurrenceRule.objects.filter(pk=rule.pk).exists()
