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


def test_a_key_sent_again_with_another_capture_is_refused_and_stores_nothing(auth_client):
    key = str(uuid.uuid4())
    first = capture(auth_client, "Plan my week", key)

    reused = capture(auth_client, "A different prompt altogether", key)

    assert reused.status_code == 409
    error = reused.json()["error"]
    assert error["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert "Idempotency-Key" in error["details"]
    assert list(Memory.objects.values_list("id", flat=True)) == [uuid.UUID(first.json()["id"])]


def test_a_captured_prompt_is_never_folded_into_a_note_or_another_tabs_same_question(auth_client):
    """A prompt awaiting its answer is its own exchange: a note that reads the same, or the
    same question asked in another tab, does not take it (and then refuse its response)."""
    note = auth_client.post("/api/v1/memories", {"content": "Plan my week"}, format="json")
    first = capture(auth_client, "Plan my week", str(uuid.uuid4()))
    second = capture(auth_client, "Plan my week", str(uuid.uuid4()))
    assert note.status_code == first.status_code == second.status_code == 201
    ids = [note.json()["id"], first.json()["id"], second.json()["id"]]
    assert len(set(ids)) == 3

    for memory_id, answer in [(ids[1], "Monday: gym."), (ids[2], "Tuesday: rest.")]:
        saved = auth_client.post(
            f"/api/v1/memories/{memory_id}/response", {"response": answer}, format="json"
        )
        assert saved.status_code == 200

    contents = {m.pk: m.content for m in Memory.objects.all()}
    assert contents == {
        uuid.UUID(ids[0]): "Plan my week",
        uuid.UUID(ids[1]): "Plan my week\n\nMonday: gym.",
        uuid.UUID(ids[2]): "Plan my week\n\nTuesday: rest.",
    }
    # A note written again still folds into the note.
    again = auth_client.post("/api/v1/memories", {"content": "Plan my week"}, format="json")
    assert again.status_code == 200 and again.json()["id"] == ids[0]
