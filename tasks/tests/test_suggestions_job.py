"""The periodic suggestions (tasks.suggestions_sweep): drafts for the users who saved a memory
lately, through the fake OpenAI-compatible server; the cap and the dedupe hold; silence, not
errors, without a model; one model call per user and interval however often beat sends it."""

import json
import logging
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from accounts.tests.factories import UserFactory
from memories import services as memories
from memories.models import Memory
from tasks import tasks as jobs
from tasks.models import Task, TaskSource
from tasks.tests.factories import TaskFactory
from testing.fake_openai import Reply

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


def remember(user, content: str, days_ago: int = 0) -> None:
    memory, _ = memories.memory_create(user=user, draft=memories.MemoryDraft(content=content))
    if days_ago:
        Memory.objects.filter(pk=memory.pk).update(
            created_at=timezone.now() - timedelta(days=days_ago)
        )


def test_active_users_get_drafts_under_the_cap_without_duplicates(user, llm_upstream, settings):
    settings.TASKS_SUGGESTIONS_MAX_PENDING = 2
    idle = UserFactory()
    remember(user, "My passport expires in March; the dentist called; the car needs tyres.")
    remember(idle, "An old note about the garden.", days_ago=3)
    TaskFactory(user=user, title="Renew the passport")
    llm_upstream.script(
        Reply(
            text=json.dumps(
                {
                    "tasks": [
                        {"title": t}
                        for t in (
                            "Renew the passport.",
                            "Call the dentist",
                            "Change the tyres",
                            "Water the garden",
                        )
                    ]
                }
            )
        )
    )

    jobs.suggestions_sweep()
    jobs.suggestions_sweep()  # a second beat (or a restart) asks no one again

    drafts = Task.objects.filter(user=user, source=TaskSource.SUGGESTION).order_by("created_at")
    assert [(t.title, t.is_approved) for t in drafts] == [
        ("Call the dentist", False),
        ("Change the tyres", False),
    ]
    assert not Task.objects.filter(user=idle).exists()
    assert len(llm_upstream.chat_requests) == 1


def test_without_a_model_the_job_is_silent(user, caplog):
    remember(user, "My passport expires in March.")

    with caplog.at_level(logging.INFO):
        jobs.suggestions_sweep()

    assert not Task.objects.exists()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_no_model_setting_means_no_job(user, llm_upstream, settings):
    settings.TASKS_SUGGESTION_MODEL = ""
    remember(user, "My passport expires in March.")

    jobs.suggestions_sweep()

    assert llm_upstream.chat_requests == [] and not Task.objects.exists()
