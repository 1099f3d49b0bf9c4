"""The admin's lists: newest first everywhere; users' texts only on the page that opens one."""

import logging
import re

import pytest
from django.contrib import admin
from django.db import models
from django.test import RequestFactory

from billing.models import DailyUsage
from chat.models import Message
from chat.tests.factories import ThreadFactory
from memories.tests.factories import MemoryFactory

pytestmark = pytest.mark.django_db
# Models without a time of creation to sort by.
UNDATED = {"auth.group", "account.emailaddress"}


def test_every_list_is_newest_first():
    request = RequestFactory().get("/admin/")
    for model, model_admin in admin.site._registry.items():
        if model._meta.label_lower in UNDATED:
            continue
        ordering = model_admin.get_ordering(request) or model._meta.ordering
        assert ordering, f"{model._meta.label} has no default ordering"
        first = ordering[0]
        field = model._meta.get_field(first.lstrip("-"))
        assert first.startswith("-"), f"{model._meta.label} is sorted oldest first"
        assert isinstance(field, models.DateField), f"{model._meta.label} is not sorted by time"


def test_every_list_is_named_in_english():
    """Django adds an "s" to a model's name unless told otherwise: "ledger entrys". (dj-stripe's
    names are its own, and listed only with billing on.)"""
    plurals = {
        str(model._meta.verbose_name_plural)
        for model in admin.site._registry
        if model._meta.app_label != "djstripe"
    }

    assert {"API keys", "daily usage", "ledger entries"} <= plurals
    wrong = [p for p in plurals if re.search(r"[^aeiou]ys$|usages$|\b[Aa]pi\b", p)]
    assert wrong == []


@pytest.fixture
def message(user):
    return Message.objects.create(
        thread=ThreadFactory(user=user, title="Trip planning"),
        model_id="gpt-4o-mini",
        role="assistant",
        content="The private answer about the trip.",
        completion_tokens=7,
    )


def test_threads_messages_and_usage_are_listed(operator_client, message, user):
    DailyUsage.objects.create(user=user, day=message.created_at.date(), requests=3)

    threads = operator_client.get("/admin/chat/thread/", {"q": user.email}).content.decode()
    messages = operator_client.get("/admin/chat/message/").content.decode()
    usage = operator_client.get("/admin/billing/dailyusage/").content.decode()

    assert "Trip planning" in threads and '<td class="field-message_count">1</td>' in threads
    assert '<td class="field-content_chars">34</td>' in messages
    assert "private answer" not in messages
    assert user.email in usage


def test_a_message_page_folds_its_text(operator_client, message):
    html = operator_client.get(f"/admin/chat/message/{message.pk}/change/").content.decode()

    assert "<details><summary>Show the text (34 characters)</summary>" in html
    assert "The private answer about the trip." in html
    assert 'name="content"' not in html  # read-only: no form field to change it


def test_memories_list_shows_sizes_and_statuses_not_text(operator_client, user):
    MemoryFactory(user=user, title="Diary", content="A very private diary entry.")

    html = operator_client.get("/admin/memories/memory/").content.decode()

    assert "field-size_bytes" in html and "field-embedding_status" in html
    assert "private diary" not in html and "Diary" not in html


def test_opening_a_memory_is_logged(operator_client, user, caplog):
    memory = MemoryFactory(user=user, content="A very private diary entry.")

    with caplog.at_level(logging.INFO, logger="engram.audit"):
        html = operator_client.get(f"/admin/memories/memory/{memory.pk}/change/").content.decode()

    assert "A very private diary entry." in html
    opened = [r for r in caplog.records if r.name == "engram.audit"]
    assert len(opened) == 1
    assert opened[0].memory_id == str(memory.pk)
    assert opened[0].operator_id is not None
