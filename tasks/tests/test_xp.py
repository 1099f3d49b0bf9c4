"""What a task is worth and what a total of XP reaches (tasks.xp), and the stats endpoint."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tasks import services
from tasks.models import XpEntry
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
