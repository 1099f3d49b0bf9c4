"""What a task is worth and what a total of XP reaches (tasks.xp), and the stats endpoint."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from tasks import selectors, services
from tasks.models import XpEntry
from tasks.tests.factories import TaskFactory
from tasks.xp import level_of, level_start, task_xp


@pytest.mark.parametrize(
    ("difficulty", "priority", "xp"),
    [(1, "low", 10), (1, "medium", 15), (3, "high", 60), (5, "urgent", 150), (3, "medium", 45)],
)
def test_task_xp_is_ten_per_difficulty_times_the_priority_multiplier(difficulty, priority, xp):
    assert task_xp(difficulty=difficulty, priority=priority) == xp


@pytest.mark.parametrize(
    ("total", "level", "into", "span"),
    [
        (0, 1, 0, 100),
        (99, 1, 99, 100),
        (100, 2, 0, 200),
        (299, 2, 199, 200),
        (300, 3, 0, 300),
        (-40, 1, 0, 100),
        (500_000, 100, 500_000 - level_start(100), 10_000),
    ],
)
def test_levels_need_a_hundred_more_xp_each(total, level, into, span):
    reached = level_of(total)
    assert (reached.level, reached.xp_into_level, reached.xp_for_next_level) == (level, into, span)


@pytest.mark.django_db
def test_stats_count_xp_level_streak_and_completions_per_day(auth_client, user):
    now = timezone.now()
    # Three days in a row with a completion that stands, ending today; one taken back today.
    for days_ago in (0, 1, 2):
        task = services.task_complete(
            task=services.task_create(user=user, title=f"d{days_ago}", difficulty=2)
        )
        XpEntry.objects.filter(task=task).update(created_at=now - timedelta(days=days_ago))
    services.task_reopen(
        task=services.task_complete(task=services.task_create(user=user, title="x"))
    )
    # A completion four days ago does not join the streak: three days ago had none.
    old = services.task_complete(task=services.task_create(user=user, title="old"))
    XpEntry.objects.filter(task=old).update(created_at=now - timedelta(days=4))

    response = auth_client.get("/api/v1/tasks/stats", {"days": 5})
    assert response.status_code == 200
    body = response.json()
    assert body["total_xp"] == 3 * 30 + 15
    assert (body["level"], body["xp_into_level"], body["xp_for_next_level"]) == (2, 5, 200)
    assert body["progress"] == pytest.approx(5 / 200)
    assert body["streak_days"] == 3
    assert [day["completed"] for day in body["completed_per_day"]] == [1, 0, 1, 1, 1]


@pytest.mark.django_db
def test_stats_refuse_an_unknown_time_zone(auth_client):
    response = auth_client.get("/api/v1/tasks/stats", {"tz": "Nowhere/Land"})
    assert response.status_code == 400
    assert "tz" in response.json()["error"]["details"]


def ledger_row(user, task, days_ago: float, kind: str = "grant", completion: int = 1):
    at = timezone.now() - timedelta(days=days_ago)
    entry = XpEntry.objects.create(
        user=user,
        task=task,
        completion=completion,
        kind=kind,
        amount=15 if kind == "grant" else -15,
    )
    XpEntry.objects.filter(pk=entry.pk).update(created_at=at)


@pytest.mark.django_db
def test_stats_are_aggregated_in_two_queries_whatever_the_ledger(user, django_assert_num_queries):
    # Given 40 days in a row of completions (one per day, and a reopened one today), and a
    # completion of a task since deleted yesterday
    tasks = TaskFactory.create_batch(41, user=user)
    for days_ago, task in enumerate(tasks[:40]):
        ledger_row(user, task, days_ago)
    ledger_row(user, tasks[40], 0)
    ledger_row(user, tasks[40], 0, kind="revoke")
    gone = TaskFactory(user=user)
    ledger_row(user, gone, 1)
    gone.delete()

    # When the stats are read
    with django_assert_num_queries(2):
        stats = selectors.task_stats(user=user, zone=ZoneInfo("UTC"), days=3)

    # Then the reopened completion does not count, the deleted task's does
    assert [count for _, count in stats.completed_per_day] == [1, 2, 1]
    assert stats.streak_days == 40
    assert stats.total_xp == 15 * 41


@pytest.mark.django_db
def test_a_streak_is_counted_back_a_bounded_window(user, monkeypatch):
    monkeypatch.setattr(selectors, "STREAK_MAX_DAYS", 5)
    for days_ago, task in enumerate(TaskFactory.create_batch(8, user=user)):
        ledger_row(user, task, days_ago)

    stats = selectors.task_stats(user=user, zone=ZoneInfo("UTC"), days=2)

    assert stats.streak_days == 5
