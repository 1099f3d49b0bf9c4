"""Input keeps the types and the shape the schema documents: a JSON number is not a string, a
query parameter has one value, and a cursor is what its pattern says."""

import re

import pytest

from accounts.services import api_key_create
from core.pagination import CURSOR_PATTERN
from interop.mem0_compat.mapping import Entities
from interop.mem0_compat.services import mem0_add
from memories.models import Memory
from memories.tests.factories import MemoryFactory

pytestmark = pytest.mark.django_db
MEMORIES = "/api/v1/memories"


def details_of(response, status: int = 400) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    return error["details"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("agent_id", 0.0, "Not a valid string."),
        ("content", 12, "Not a valid string."),
        ("importance", True, "A valid number is required."),
        ("tags", ["a", 7], None),
    ],
)
def test_a_json_value_of_another_type_is_refused_not_converted(
    auth_client, user, field, value, message
):
    body = {"content": "I like tea", field: value}

    details = details_of(auth_client.post(MEMORIES, body, format="json"))

    assert field in details and (message is None or details[field] == [message])
    assert not Memory.objects.filter(user=user).exists()


def test_a_boolean_field_takes_only_true_or_false(auth_client):
    details = details_of(auth_client.patch("/api/v1/auth/me", {"auto_extract": 0}, format="json"))

    assert details == {"auto_extract": ["Must be true or false."]}


def test_each_item_of_a_bulk_keeps_its_types(auth_client, user):
    body = {"memories": [{"content": "fine"}, {"content": "x", "conversation_id": 5}]}

    response = auth_client.post(f"{MEMORIES}/bulk", body, format="json")

    assert details_of(response)["items"] == {"1": {"conversation_id": ["Not a valid string."]}}
    assert not Memory.objects.filter(user=user).exists()


def test_mem0_text_must_be_a_string(client, user):
    _, secret = api_key_create(user=user, name="mem0", scopes=["memories:read", "memories:write"])
    messages = [{"role": "user", "content": "I like tea"}]
    mem0_add(
        user=user, messages=messages, entities=Entities(user_id="alice"), metadata={}, infer=False
    )
    memory = Memory.objects.get(user=user)

    response = client.put(
        f"/mem0/v1/memories/{memory.pk}/",
        {"text": 0},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {secret}",
    )

    assert details_of(response) == {"text": ["Not a valid string."]}
    memory.refresh_from_db()
    assert memory.content == "I like tea"


def test_headers_are_text_and_still_convert(auth_client):
    """Values read from headers (a backup's version) are text: converted, not refused."""
    response = auth_client.put(
        "/api/v1/backup",
        b"",
        content_type="application/octet-stream",
        HTTP_X_BACKUP_VERSION="1",
        HTTP_X_BACKUP_TIMESTAMP="2",
        HTTP_X_BACKUP_CHECKSUM="0" * 64,
    )

    details = response.json().get("error", {}).get("details", {})
    assert "version" not in details and "timestamp" not in details


def test_a_query_parameter_sent_twice_is_refused(auth_client):
    details = details_of(auth_client.get(f"{MEMORIES}?tag=a&tag=b"))

    assert details == {"tag": ["Give one value."]}


def test_a_cursor_is_what_its_pattern_says(auth_client, user):
    MemoryFactory.create_batch(3, user=user)

    first = auth_client.get(f"{MEMORIES}?limit=2").json()
    rest = auth_client.get(f"{MEMORIES}?limit=2&cursor={first['next_cursor']}").json()

    assert re.fullmatch(CURSOR_PATTERN, first["next_cursor"])
    assert len(first["results"]) == 2 and len(rest["results"]) == 1
    ids = {m["id"] for m in first["results"]} | {m["id"] for m in rest["results"]}
    assert len(ids) == 3


@pytest.mark.parametrize("cursor", ["1-" + "0" * 32, "99999999999999999-" + "f" * 32])
def test_any_cursor_the_pattern_allows_is_served(auth_client, user, cursor):
    MemoryFactory.create_batch(2, user=user)

    response = auth_client.get(f"{MEMORIES}?cursor={cursor}")

    assert response.status_code == 200


@pytest.mark.parametrize("cursor", ["not-a-cursor", "1-" + "0" * 31, "-1-" + "0" * 32])
def test_a_cursor_outside_the_pattern_is_refused(auth_client, cursor):
    assert "cursor" in details_of(auth_client.get(f"{MEMORIES}?cursor={cursor}"))
