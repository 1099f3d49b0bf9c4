"""Two real transactions at once, each on its own database connection (one per thread): two
completions of one task grant its XP once, and two generations of one rule's occurrences
create each occurrence once."""

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, time

import pytest
from django.db import connections

from tasks import services
from tasks.models import RecurrenceRule, Task, XpEntry

pytestmark = pytest.mark.django_db(transaction=True)
ROUNDS = 5


def _twice_at_once(call: Callable[[], object]) -> None:
    """Run ``call`` in two threads released together, each on its own connection."""
    barrier = threading.Barrier(2)

    def run() -> object:
        try:
            barrier.wait()
            return call()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=2) as pool:
        for future in [pool.submit(run), pool.submit(run)]:
            future.result()


def test_two_concurrent_completions_grant_once(user):
    for _ in range(ROUNDS):
        task = services.task_create(user=user, title="Race", difficulty=2)
        _twice_at_once(lambda task=task: services.task_complete(task=task))
        assert Task.objects.get(pk=task.pk).completions == 1
        assert list(XpEntry.objects.filter(task=task).values_list("amount", flat=True)) == [30]


def test_two_concurrent_generations_create_each_occurrence_once(user):
    for _ in range(ROUNDS):
        # Both runs start from the same read of the rule, as two beats or a retry would.
        rule = RecurrenceRule.objects.create(
            user=user,
            rrule="FREQ=DAILY",
            time_zone="Europe/Berlin",
            starts_on=date(2026, 1, 1),
            at_time=time(9, 0),
            title="Stretch",
        )
        _twice_at_once(lambda rule=rule: services.recurrence_generate(rule=rule))
        dates = list(Task.objects.filter(recurrence=rule).values_list("occurrence_date", flat=True))
        assert len(dates) >= 14 and len(dates) == len(set(dates))
