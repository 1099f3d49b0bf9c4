"""Deleting one's account (POST /api/v1/auth/me/deletion): everything of theirs goes, nothing
of anyone else's, and every credential they held stops working."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey, User
from accounts.services import api_key_create, tokens_issue
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from chat.models import Thread
from chat.tests.factories import ThreadFactory
from core.vector_index import index_exists
from memories import services as memories
from memories.models import Memory, MemoryChunk, UserVectorIndex
from memories.tests.factories import MemoryFactory
from tasks.models import Task
from tasks.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

DELETION = "/api/v1/auth/me/deletion"


def belongings(user) -> dict[str, int]:
    return {
        "memories": Memory.objects.filter(user=user).count(),
        "tasks": Task.objects.filter(user=user).count(),
        "threads": Thread.objects.filter(user=user).count(),
        "keys": ApiKey.objects.filter(user=user).count(),
    }


@pytest.fixture
def stocked():
    """Two people with a memory, a task, a chat and an API key each."""
    people = [UserFactory(), UserFactory()]
    for person in people:
        MemoryFactory(user=person, content=f"{person.email} likes tea")
        TaskFactory(user=person)
        ThreadFactory(user=person)
        api_key_create(user=person, name="laptop", scopes=["memories:read"])
    return people


def test_deleting_takes_everything_of_theirs_and_nothing_of_anyone_elses(
    stocked, django_capture_on_commit_callbacks
):
    leaving, staying = stocked
    tokens = tokens_issue(user=leaving)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.access}")
    key = api_key_create(user=leaving, name="extension", scopes=["memories:read"])[1]

    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(
            DELETION, {"confirm_email": leaving.email.upper(), "password": DEFAULT_PASSWORD},
            format="json",
        )  # fmt: skip

    assert answer.status_code == 204, answer.content
    assert not User.objects.filter(pk=leaving.pk).exists()
    assert belongings(leaving) == {"memories": 0, "tasks": 0, "threads": 0, "keys": 0}
    assert belongings(staying) == {"memories": 1, "tasks": 1, "threads": 1, "keys": 1}
    # Every credential they held is dead: the access token, the refresh token, the API key.
    assert client.get("/api/v1/auth/me").status_code == 401
    refreshed = APIClient().post("/api/v1/auth/refresh", {"refresh": tokens.refresh}, format="json")
    assert refreshed.status_code == 401
    assert APIClient().get("/api/v1/memories", HTTP_X_API_KEY=key).status_code == 401
    # The address is told, in case it was not its owner who asked.
    [farewell] = mail.outbox
    assert farewell.to == [leaving.email] and "If this was not you" in farewell.body


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"confirm_email": "someone@else.example", "password": DEFAULT_PASSWORD},
         {"confirm_email"}),
        ({"confirm_email": "{email}", "password": "not-the-password"}, {"password"}),
        ({"confirm_email": "{email}"}, {"password"}),
        ({"password": DEFAULT_PASSWORD}, {"confirm_email"}),
    ],
)  # fmt: skip
def test_an_unconfirmed_deletion_deletes_nothing(stocked, body, fields):
    leaving = stocked[0]
    body = {name: value.format(email=leaving.email) for name, value in body.items()}

    answer = APIClient().post(
        DELETION, body, format="json",
        HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=leaving).access}",
    )  # fmt: skip

    assert answer.status_code == 400, answer.content
    assert answer.json()["error"]["code"] == "VALIDATION_ERROR"
    assert set(answer.json()["error"]["details"]) == fields
    assert belongings(leaving) == {"memories": 1, "tasks": 1, "threads": 1, "keys": 1}


def test_an_api_key_cannot_delete_the_account(stocked):
    leaving = stocked[0]
    key = api_key_create(
        user=leaving, name="everything", scopes=["memories:read", "memories:write"]
    )[1]

    answer = APIClient().post(
        DELETION, {"confirm_email": leaving.email, "password": DEFAULT_PASSWORD},
        format="json", HTTP_X_API_KEY=key,
    )  # fmt: skip

    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "PERMISSION_DENIED"
    assert User.objects.filter(pk=leaving.pk).exists()


@pytest.mark.parametrize(("signed_in_ago", "deleted"), [(None, False), (60, False), (5, True)])
def test_an_account_made_through_a_provider_is_deleted_soon_after_a_sign_in(signed_in_ago, deleted):
    # No password to ask: a sign-in through the provider, minutes ago, is the proof (a refreshed
    # token, or a session a thief may hold, is not).
    leaving = UserFactory()
    leaving.set_unusable_password()
    if signed_in_ago is not None:
        leaving.last_login = timezone.now() - timedelta(minutes=signed_in_ago)
    leaving.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=leaving).access}")

    answer = client.post(DELETION, {"confirm_email": leaving.email})

    assert answer.status_code == (204 if deleted else 400)
    if not deleted:
        assert (
            "sign in again through your provider"
            in answer.json()["error"]["details"]["password"][0]
        )
    assert User.objects.filter(pk=leaving.pk).exists() is not deleted


def test_a_heavy_users_own_indexes_are_dropped_once_the_deletion_commits(
    settings, django_capture_on_commit_callbacks
):
    settings.MEMORY_HNSW_USER_THRESHOLD = 5
    heavy = UserFactory()
    drafts = [memories.MemoryDraft(content=f"note {number} on the garden") for number in range(6)]
    with django_capture_on_commit_callbacks(execute=True):  # embedded, then indexed
        memories.memories_bulk_create(user=heavy, drafts=drafts)
    [index] = UserVectorIndex.objects.filter(user=heavy)
    names = [index.name, memories.text_index_name(heavy.pk)]
    assert all(index_exists(name) for name in names)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=heavy).access}")

    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(DELETION, {"confirm_email": heavy.email, "password": DEFAULT_PASSWORD})

    assert answer.status_code == 204
    assert not MemoryChunk.objects.filter(user_id=heavy.pk).exists()
    assert not any(index_exists(name) for name in names)
