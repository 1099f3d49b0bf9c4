"""Recurring tasks: wall-clock time across DST, month ends, independence of occurrences, rule
edits from now on, the periodic task and the API."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.utils import timezone
from freezegun import freeze_time
from rest_framework.test import APIClient

from tasks import services
from tasks.models import RecurrenceRule, Task, TaskSource, TaskStatus
from tasks.tasks import recurrences_generate

pytestmark = pytest.mark.django_db


def _rule(user, **fields) -> RecurrenceRule:
    defaults = {
        "rrule": "FREQ=DAILY",
        "time_zone": "UTC",
        "starts_on": date(2026, 1, 1),
        "at_time": time(9, 0),
        "title": "Stretch",
    }
    return RecurrenceRule.objects.create(user=user, **{**defaults, **fields})


def _occurrences(rule: RecurrenceRule) -> list[Task]:
    return list(Task.objects.filter(recurrence=rule).order_by("due_at"))


def test_nine_in_berlin_stays_nine_across_the_march_change(user):
    rule = _rule(user, time_zone="Europe/Berlin", starts_on=date(2027, 3, 20))
    services.recurrence_generate(rule=rule, now=datetime(2027, 3, 25, 12, tzinfo=UTC))

    by_date = {task.occurrence_date: task.due_at.astimezone(UTC) for task in _occurrences(rule)}
    # Clocks go forward on Sunday 28 March 2027: 09:00 is 08:00 UTC before, 07:00 UTC after.
    assert by_date[date(2027, 3, 27)] == datetime(2027, 3, 27, 8, tzinfo=UTC)
    assert by_date[date(2027, 3, 28)] == datetime(2027, 3, 28, 7, tzinfo=UTC)
    assert by_date[date(2027, 3, 29)] == datetime(2027, 3, 29, 7, tzinfo=UTC)
    assert min(by_date) == date(2027, 3, 26) and max(by_date) == date(2027, 4, 8)
    assert all(task.source == TaskSource.RECURRENCE for task in _occurrences(rule))


def test_the_31st_skips_short_months_and_minus_one_is_every_month_end(user, settings):
    settings.TASKS_RECURRENCE_HORIZON_DAYS = 200
    now = datetime(2027, 1, 1, tzinfo=UTC)
    on_31st = _rule(user, rrule="FREQ=MONTHLY;BYMONTHDAY=31", starts_on=date(2027, 1, 31))
    month_end = _rule(user, rrule="RRULE:FREQ=MONTHLY;BYMONTHDAY=-1", starts_on=date(2027, 1, 1))
    services.recurrence_generate(rule=on_31st, now=now)
    services.recurrence_generate(rule=month_end, now=now)

    assert [task.occurrence_date for task in _occurrences(on_31st)] == [
        date(2027, 1, 31),
        date(2027, 3, 31),
        date(2027, 5, 31),
    ]
    assert [task.occurrence_date for task in _occurrences(month_end)] == [
        date(2027, 1, 31),
        date(2027, 2, 28),
        date(2027, 3, 31),
        date(2027, 4, 30),
        date(2027, 5, 31),
        date(2027, 6, 30),
    ]


def test_generating_again_creates_nothing_more(user):
    rule = _rule(user)
    now = timezone.now()
    services.recurrence_generate(rule=rule, now=now)
    count = len(_occurrences(rule))
    rule.generated_until = None  # a retry that read the rule before the first run saved it
    services.recurrence_generate(rule=rule, now=now)
    assert len(_occurrences(rule)) == count == 14


def test_completing_or_skipping_an_occurrence_leaves_the_others_alone(user):
    rule = _rule(user)
    services.recurrence_generate(rule=rule)
    first, second, *rest = _occurrences(rule)
    before = [(task.pk, task.status, task.updated_at) for task in rest]

    services.task_complete(task=first)
    services.task_update(task=second, changes={"status": TaskStatus.SKIPPED})

    assert [(task.pk, task.status, task.updated_at) for task in _occurrences(rule)[2:]] == before


def test_editing_a_rule_changes_only_future_occurrences_still_to_do(user):
    rule = _rule(user)
    now = timezone.now()
    services.recurrence_generate(rule=rule, now=now - timedelta(days=3))
    past = [task for task in _occurrences(rule) if task.due_at <= now]
    future = [task for task in _occurrences(rule) if task.due_at > now]
    done = services.task_complete(task=future[0])
    skipped = services.task_update(task=future[1], changes={"status": TaskStatus.SKIPPED})

    services.recurrence_update(rule=rule, changes={"at_time": time(18, 0), "title": "Walk"})

    after = _occurrences(rule)
    kept = {task.pk: task for task in after}
    assert all(task.pk in kept and kept[task.pk].title == "Stretch" for task in past)
    assert kept[done.pk].status == TaskStatus.DONE and kept[skipped.pk].title == "Stretch"
    remade = [task for task in after if task.status == TaskStatus.TODO and task.due_at > now]
    assert remade and all(
        task.title == "Walk" and task.due_at.astimezone(UTC).time() == time(18, 0)
        for task in remade
    )
    dates = [task.occurrence_date for task in after]
    assert len(dates) == len(set(dates))


def test_the_periodic_task_fills_every_active_rule_behind_its_horizon(user):
    behind, paused = _rule(user), _rule(user, is_active=False)
    recurrences_generate()
    assert len(_occurrences(behind)) == 14
    assert _occurrences(paused) == []
    recurrences_generate()
    assert len(_occurrences(behind)) == 14


def test_rules_through_the_api(auth_client, other_client):
    created = auth_client.post(
        "/api/v1/recurrences",
        {
            "rrule": "FREQ=WEEKLY;BYDAY=MO",
            "time_zone": "Europe/Berlin",
            "starts_on": "2026-01-05",
            "at_time": "09:00",
            "title": "Plan the week",
            "difficulty": 2,
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    rule_id = created.json()["id"]
    occurrences = Task.objects.filter(recurrence_id=rule_id)
    assert occurrences.count() == 2  # two Mondays in the next 14 days
    # The answer says how far ahead they exist (it said null, as if none did yet).
    stored = RecurrenceRule.objects.get(pk=rule_id).generated_until
    assert created.json()["generated_until"] == stored.isoformat().replace("+00:00", "Z")

    url = f"/api/v1/recurrences/{rule_id}"
    assert other_client.get(url).status_code == 404
    assert auth_client.patch(url, {"title": "Plan"}, format="json").json()["title"] == "Plan"
    assert auth_client.delete(url).status_code == 204
    assert not Task.objects.filter(recurrence_id=rule_id).exists()


@pytest.mark.parametrize(
    "rrule",
    [
        "FREQ=HOURLY",
        "FREQ=DAILY;INTERVAL=x",
        "DTSTART:20260101T090000\nRRULE:FREQ=DAILY",
        "",
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
        # dateutil parses these, then fails walking them (a 500 once)
        "FREQ=DAILY;INTERVAL=-1",
        "FREQ=WEEKLY;INTERVAL=-2",
        "FREQ=DAILY;INTERVAL=0",
        "FREQ=DAILY;INTERVAL=99999999999999999999",
        "FREQ=DAILY;COUNT=-1",
        "FREQ=DAILY;INTERVAL=²",
        # RFC 5545 has no day 0 (dateutil took BYMONTHDAY=0 for every day)
        "FREQ=MONTHLY;BYMONTHDAY=0",
        "FREQ=MONTHLY;BYMONTHDAY=15,0",
        "FREQ=MONTHLY;BYMONTHDAY=32",
        "FREQ=YEARLY;BYWEEKNO=0",
        "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=0",
    ],
)
def test_unusable_rules_are_refused(auth_client, rrule):
    response = auth_client.post(
        "/api/v1/recurrences",
        {"rrule": rrule, "starts_on": "2026-01-05", "at_time": "09:00", "title": "x"},
        format="json",
    )
    assert response.status_code == 400
    assert "rrule" in response.json()["error"]["details"]


def test_an_until_in_utc_ends_the_rule_at_that_moment_in_its_zone(user):
    # RFC 5545: with a time zone, UNTIL is UTC. 2030-01-03 08:30 UTC is 09:30 in Berlin, after
    # that day's 09:00 occurrence; 07:30 UTC (08:30 there) is before it.
    client = APIClient()
    client.force_authenticate(user)  # a token would be expired in 2030

    def occurrences(until: str) -> list[str]:
        created = client.post(
            "/api/v1/recurrences",
            {"rrule": f"FREQ=DAILY;UNTIL={until}", "time_zone": "Europe/Berlin",
             "starts_on": "2030-01-01", "at_time": "09:00", "title": until},
            format="json",
        )  # fmt: skip
        assert created.status_code == 201, created.content
        return [str(t.occurrence_date) for t in Task.objects.filter(title=until)]

    with freeze_time("2030-01-01T00:00:00Z"):
        assert sorted(occurrences("20300103T083000Z")) == [
            "2030-01-01", "2030-01-02", "2030-01-03"
        ]  # fmt: skip
        assert sorted(occurrences("20300103T073000Z")) == ["2030-01-01", "2030-01-02"]


def test_a_start_centuries_back_is_refused(auth_client):
    response = auth_client.post(
        "/api/v1/recurrences",
        {"rrule": "FREQ=DAILY", "starts_on": "0001-01-01", "at_time": "09:00", "title": "x"},
        format="json",
    )
    assert response.status_code == 400
    assert "starts_on" in response.json()["error"]["details"]


def test_a_full_batch_queues_the_rest(user, monkeypatch):
    monkeypatch.setattr("tasks.tasks.RULES_PER_RUN", 2)
    rules = [_rule(user) for _ in range(5)]
    recurrences_generate()
    assert all(len(_occurrences(rule)) == 14 for rule in rules)
