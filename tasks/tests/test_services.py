"""The task rules in the services: subtasks, completion, XP in the ledger."""

import pytest
from django.db import IntegrityError, transaction

from core.errors import Conflict, NotFound, ValidationFailed
from tasks import services
from tasks.models import Task, TaskStatus, XpEntry, XpKind
from tasks.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db


def _ledger(task: Task) -> list[tuple[str, int, int]]:
    return list(
        XpEntry.objects.filter(task=task)
        .order_by("created_at", "kind")
        .values_list("kind", "completion", "amount")
    )


def test_a_parent_cannot_be_completed_while_a_subtask_is_open(user):
    parent = services.task_create(user=user, title="Move house")
    child = services.task_create(user=user, title="Pack books", parent_id=parent.pk)

    with pytest.raises(Conflict) as refused:
        services.task_complete(task=parent)
    assert refused.value.details == {"open_subtasks": 1}
    assert Task.objects.get(pk=parent.pk).status == TaskStatus.TODO

    services.task_update(task=child, changes={"status": TaskStatus.SKIPPED})
    assert services.task_complete(task=parent).status == TaskStatus.DONE


def test_an_open_subtask_cannot_go_under_a_done_task(user):
    parent = services.task_complete(task=services.task_create(user=user, title="Done"))
    with pytest.raises(Conflict):
        services.task_create(user=user, title="Late", parent_id=parent.pk)


def test_reopening_a_subtask_of_a_done_parent_is_refused(user):
    parent = services.task_create(user=user, title="Trip")
    child = services.task_complete(
        task=services.task_create(user=user, title="Tickets", parent_id=parent.pk)
    )
    services.task_complete(task=parent)
    with pytest.raises(Conflict):
        services.task_reopen(task=child)


def test_a_task_cannot_become_its_own_ancestor(user):
    top = services.task_create(user=user, title="Top")
    middle = services.task_create(user=user, title="Middle", parent_id=top.pk)

    for new_parent in (top, middle):
        with pytest.raises(ValidationFailed) as refused:
            services.task_update(task=top, changes={"parent_id": new_parent.pk})
        assert "parent_id" in refused.value.details
    assert Task.objects.get(pk=top.pk).parent_id is None


def test_tasks_nest_at_most_three_levels(user):
    one = services.task_create(user=user, title="1")
    two = services.task_create(user=user, title="2", parent_id=one.pk)
    three = services.task_create(user=user, title="3", parent_id=two.pk)
    with pytest.raises(ValidationFailed):
        services.task_create(user=user, title="4", parent_id=three.pk)

    # Moving a subtree counts its own height: "two" with "three" under it cannot go under
    # another subtask.
    other = services.task_create(user=user, title="other")
    other_child = services.task_create(user=user, title="other child", parent_id=other.pk)
    with pytest.raises(ValidationFailed):
        services.task_update(task=two, changes={"parent_id": other_child.pk})
    services.task_update(task=two, changes={"parent_id": other.pk})
    assert Task.objects.get(pk=two.pk).parent_id == other.pk


def test_another_users_task_cannot_be_a_parent(user, other_user):
    theirs = TaskFactory(user=other_user)
    with pytest.raises(ValidationFailed):
        services.task_create(user=user, title="x", parent_id=theirs.pk)


def test_completion_grants_xp_once_and_reopening_takes_it_back(user):
    task = services.task_create(user=user, title="Report", priority="high", difficulty=3)
    assert task.experience_points == 60

    services.task_complete(task=task)
    services.task_complete(task=task)  # already done: nothing more
    assert _ledger(task) == [(XpKind.GRANT, 1, 60)]

    reopened = services.task_reopen(task=task)
    assert reopened.status == TaskStatus.TODO and reopened.completed_at is None
    assert _ledger(task) == [(XpKind.GRANT, 1, 60), (XpKind.REVOKE, 1, -60)]

    # A second completion is a new one, worth the task's value now.
    services.task_update(task=task, changes={"priority": "urgent"})
    services.task_update(task=task, changes={"status": TaskStatus.DONE})
    assert _ledger(task)[-1] == (XpKind.GRANT, 2, 90)
    assert sum(amount for *_, amount in _ledger(task)) == 90


def test_skipping_a_done_task_takes_its_xp_back(user):
    task = services.task_complete(task=services.task_create(user=user, title="Run"))
    services.task_update(task=task, changes={"status": TaskStatus.SKIPPED})
    assert sum(amount for *_, amount in _ledger(task)) == 0


def test_a_task_awaiting_approval_earns_nothing(user):
    draft = services.task_create(
        user=user, title="Suggested", is_ai_suggested=True, is_approved=False, source="suggestion"
    )
    with pytest.raises(Conflict) as refused:
        services.task_complete(task=draft)
    assert refused.value.details == {"is_approved": False}
    assert _ledger(draft) == []

    approved = services.task_update(task=draft, changes={"is_approved": True})
    services.task_complete(task=approved)
    assert _ledger(draft) == [(XpKind.GRANT, 1, 15)]


def test_the_ledger_refuses_a_second_grant_for_one_completion(user):
    task = services.task_complete(task=services.task_create(user=user, title="x"))
    with pytest.raises(IntegrityError), transaction.atomic():
        XpEntry.objects.create(user=user, task=task, completion=1, kind=XpKind.GRANT, amount=15)


def test_deleting_a_task_keeps_the_xp_earned(user):
    parent = services.task_create(user=user, title="parent")
    child = services.task_complete(
        task=services.task_create(user=user, title="child", parent_id=parent.pk)
    )
    services.task_delete(task=parent)
    assert not Task.objects.filter(pk=child.pk).exists()
    assert XpEntry.objects.get(user=user).amount == 15


def test_a_task_deleted_meanwhile_is_not_found(user):
    task = services.task_create(user=user, title="x")
    Task.objects.filter(pk=task.pk).delete()
    with pytest.raises(NotFound):
        services.task_complete(task=task)
