"""POST /memories/prompts with an Idempotency-Key: a retry stores nothing more."""

import uuid

import pytest

from memories.models import CaptureReceipt, Memory

pytestmark = pytest.mark.django_db
PROMPTS = "/api/v1/memories/prompts"


def capture(client, prompt: str, key: str | None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(PROMPTS, {"prompt": prompt, "provider": "chatgpt"}, format="json", **headers)


def test_a_retried_capture_answers_with_the_first_memory_even_after_its_response(auth_client):
    key = str(uuid.uuid4())
    first = capture(auth_client, "I water the ficus on Sundays.", key)
    assert first.status_code == 201
    memory_id = first.json()["id"]
    saved = auth_client.post(
        f"/api/v1/memories/{memory_id}/response", {"response": "Noted."}, format="json"
    )
    assert saved.status_code == 200

    retried = capture(auth_client, "I water the ficus on Sundays.", key)

    assert retried.status_code == 200
    assert retried.json()["id"] == memory_id
    assert Memory.objects.count() == 1


def test_keys_are_per_user_and_per_capture(auth_client, other_client):
    key = str(uuid.uuid4())
    mine = capture(auth_client, "first prompt", key)
    theirs = capture(other_client, "first prompt", key)
    another = capture(auth_client, "second prompt", str(uuid.uuid4()))

    assert mine.status_code == theirs.status_code == another.status_code == 201
    assert len({mine.json()["id"], theirs.json()["id"], another.json()["id"]}) == 3
    assert CaptureReceipt.objects.count() == 3


@pytest.mark.parametrize("key", ["", "has space", "x" * 256])
def test_a_malformed_key_is_refused(auth_client, key):
    response = capture(auth_client, "a prompt", key)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert "Idempotency-Key" in response.json()["error"]["details"]
    assert not Memory.objects.exists()


def test_forgetting_the_memory_drops_its_receipt(auth_client):
    key = str(uuid.uuid4())
    memory_id = capture(auth_client, "to be forgotten", key).json()["id"]

    assert auth_client.delete(f"/api/v1/memories/{memory_id}").status_code == 204

    assert not CaptureReceipt.objects.exists()
    assert capture(auth_client, "to be forgotten", key).status_code == 201
