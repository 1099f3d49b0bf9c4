"""The tasks page (Django's test client): a task added with its due time in the reader's own
zone, done for its XP and undone, suggestions approved or dismissed, soonest due first, and
another person's task the 404 page."""

from datetime import UTC, datetime

import pytest

from accounts.tests.factories import UserFactory
from tasks.models import Task, TaskStatus
from tasks.services import task_create

pytestmark = pytest.mark.django_db


def test_a_task_is_added_in_the_readers_zone_done_for_its_xp_and_undone(browser, person):
    assert b"Nothing to do." in browser.get("/tasks/").content
    added = browser.post(
        "/tasks/new",
        {"title": "Book the dentist", "due": "2026-12-24T09:30", "time_zone": "America/New_York",
         "quest_type": "main", "priority": "high", "difficulty": "2"},
        follow=True,
    )  # fmt: skip
    task = Task.objects.get(user=person)
    done = browser.post(f"/tasks/{task.pk}/done", follow=True)
    undone = browser.post(f"/tasks/{task.pk}/reopen", follow=True)

    assert task.due_at == datetime(2026, 12, 24, 14, 30, tzinfo=UTC)  # 09:30 in New York
    assert (task.time_zone, task.quest_type, task.priority) == ("America/New_York", "main", "high")
    xp = task.experience_points
    assert f"Added: Book the dentist ({xp} XP).".encode() in added.content
    assert b'datetime="2026-12-24T14:30:00Z"' in added.content
    assert f"Done: Book the dentist (+{xp} XP).".encode() in done.content
    assert f"{xp} XP".encode() in done.content and b"Recently done" in done.content
    assert b"Open again: Book the dentist" in undone.content
    task.refresh_from_db()
    assert task.status == TaskStatus.TODO
    assert b"Level <strong>1</strong>: 0 XP" in undone.content


def test_what_is_refused_says_why_and_adds_nothing(browser):
    untitled = browser.post("/tasks/new", {"title": "", "quest_type": "side", "priority": "low",
                                           "difficulty": "1"})  # fmt: skip
    nowhere = browser.post(
        "/tasks/new",
        {"title": "Call", "time_zone": "Mars/Olympus", "quest_type": "side", "priority": "low",
         "difficulty": "1"},
    )  # fmt: skip

    # A date a year 1 or 9999 in some zone (the date picker takes both) would be unreadable.
    far = [browser.post("/tasks/new", {"title": "Far", "due": due, "time_zone": zone,
                                       "quest_type": "side", "priority": "low", "difficulty": "1"})
           for due, zone in [("0001-01-01T00:00", "Asia/Kolkata"),
                             ("9999-12-31T23:59", "Pacific/Pago_Pago")]]  # fmt: skip
    assert [answer.status_code for answer in far] == [400, 400]
    assert b"A date between 1900 and 9000." in far[0].content
    assert browser.get("/tasks/").status_code == 200
    assert untitled.status_code == 400 and b"This field is required." in untitled.content
    assert untitled.content.count(b"This field is required.") == 1  # said once
    assert nowhere.status_code == 400
    assert b"Your browser named a time zone this server does not know." in nowhere.content
    assert not Task.objects.exists()


def test_soonest_due_first_and_suggestions_approved_or_dismissed(browser, person):
    later = task_create(user=person, title="Later", due_at=datetime(2027, 3, 1, tzinfo=UTC))
    sooner = task_create(user=person, title="Sooner", due_at=datetime(2027, 1, 1, tzinfo=UTC))
    task_create(user=person, title="Whenever")
    keep = task_create(user=person, title="Water the plants", is_approved=False)
    drop = task_create(user=person, title="Buy a boat", is_approved=False)

    page = browser.get("/tasks/").content.decode()
    browser.post(f"/tasks/{keep.pk}/approve")
    browser.post(f"/tasks/{drop.pk}/delete")

    order = [page.index(title) for title in ("Sooner", "Later", "Whenever")]
    assert order == sorted(order)
    suggested = page[page.index("Suggested from your memories") : page.index(">To do<")]
    assert "Water the plants" in suggested and "Buy a boat" in suggested
    keep.refresh_from_db()
    assert keep.is_approved and not Task.objects.filter(pk=drop.pk).exists()
    assert {later.pk, sooner.pk} <= set(Task.objects.values_list("pk", flat=True))


def test_another_persons_task_is_the_404_page_and_untouched(browser):
    theirs = task_create(user=UserFactory(), title="Theirs")

    answers = [browser.post(f"/tasks/{theirs.pk}/{action}")
               for action in ("done", "reopen", "approve", "delete")]  # fmt: skip

    assert [answer.status_code for answer in answers] == [404] * 4
    theirs.refresh_from_db()
    assert theirs.status == TaskStatus.TODO
