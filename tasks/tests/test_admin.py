"""The operator console lists tasks and projects newest first, without their text."""

import pytest

from tasks import services
from tasks.tests.factories import ProjectFactory, TaskFactory

pytestmark = pytest.mark.django_db


def test_tasks_are_listed_newest_first_without_their_titles(operator_client, user):
    older, newer = TaskFactory(user=user, title="Private one"), TaskFactory(user=user)
    services.task_complete(task=older)

    html = operator_client.get("/admin/tasks/task/").content.decode()
    assert html.index(str(newer.pk)) < html.index(str(older.pk))
    assert "Private one" not in html
    assert operator_client.get(f"/admin/tasks/task/{older.pk}/change/").status_code == 200


@pytest.mark.parametrize("page", ["project", "recurrencerule", "xpentry"])
def test_the_other_pages_open(operator_client, user, page):
    ProjectFactory(user=user)
    assert operator_client.get(f"/admin/tasks/{page}/").status_code == 200


def test_projects_are_listed_newest_first(operator_client, user):
    older, newer = ProjectFactory(user=user), ProjectFactory(user=user)
    html = operator_client.get("/admin/tasks/project/").content.decode()
    assert html.index(str(newer.pk)) < html.index(str(older.pk))
