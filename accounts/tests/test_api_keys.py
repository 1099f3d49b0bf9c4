"""Personal API keys: shown once, stored hashed, scoped, revocable."""

import hashlib

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiKey, User
from accounts.services import api_key_authenticate
from testing.isolation import assert_invisible_to

pytestmark = pytest.mark.django_db
KEYS = "/api/v1/auth/api-keys"
MEMORIES = "/api/v1/memories"
THREADS = "/api/v1/threads"


def create_key(client, scopes, name="extension") -> dict:
    response = client.post(KEYS, {"name": name, "scopes": scopes}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def key_client(secret: str, *, header: str = "bearer") -> APIClient:
    client = APIClient()
    if header == "bearer":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    else:
        client.credentials(HTTP_X_API_KEY=secret)
    return client


def test_a_key_is_shown_once_and_stored_only_as_a_hash(auth_client):
    created = create_key(auth_client, ["memories:read"])

    secret = created["key"]
    assert secret.startswith("egm_") and len(secret) > 40
    stored = ApiKey.objects.get(pk=created["id"])
    assert stored.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(ApiKey.objects.values().get(pk=created["id"]))
    listed = auth_client.get(KEYS).json()
    assert [k["prefix"] for k in listed] == [secret[:12]]
    assert "key" not in listed[0]


@pytest.mark.parametrize("header", ["bearer", "x-api-key"])
def test_a_key_with_the_right_scope_authenticates(auth_client, user, header):
    secret = create_key(auth_client, ["memories:read", "memories:write"])["key"]

    client = key_client(secret, header=header)

    created = client.post(MEMORIES, {"content": "Saved with an API key."})
    assert created.status_code == 201, created.content
    listed = client.get(MEMORIES).json()["results"]
    assert [m["content"] for m in listed] == ["Saved with an API key."]
    assert user.memories.count() == 1
    assert ApiKey.objects.get(prefix=secret[:12]).last_used_at is not None


def test_a_key_with_the_wrong_scope_is_403_and_writes_nothing(auth_client, user):
    secret = create_key(auth_client, ["memories:read"])["key"]
    client = key_client(secret)

    assert client.get(MEMORIES).status_code == 200
    write = client.post(MEMORIES, {"content": "not allowed"})
    chat = client.post(THREADS, {"title": "not allowed"})

    for response, needed in ((write, "memories:write"), (chat, "chat")):
        assert response.status_code == 403
        error = response.json()["error"]
        assert error["code"] == "PERMISSION_DENIED"
        assert error["details"]["required_scope"] == needed
    assert not user.memories.exists() and not user.threads.exists()


def test_keys_cannot_manage_the_account(auth_client):
    secret = create_key(auth_client, ["memories:read", "memories:write", "chat"])["key"]

    response = key_client(secret).get(KEYS)

    assert response.status_code == 403


def test_a_revoked_key_is_401(auth_client):
    created = create_key(auth_client, ["memories:read"])
    assert auth_client.delete(f"{KEYS}/{created['id']}").status_code == 204

    response = key_client(created["key"]).get(MEMORIES)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_FAILED"
    assert auth_client.get(KEYS).json() == []


def test_an_unknown_key_is_401(db):
    response = key_client("egm_" + "x" * 43).get(MEMORIES)

    assert response.status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "scopes": []},
        {"name": "x", "scopes": ["admin"]},
        {"name": "", "scopes": ["chat"]},
        {"scopes": ["chat"]},
    ],
)
def test_bad_key_requests_are_400(auth_client, body):
    response = auth_client.post(KEYS, body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_another_users_key_is_invisible(auth_client, other_client):
    created = create_key(auth_client, ["chat"])

    assert_invisible_to(
        other_client,
        [("DELETE", f"{KEYS}/{created['id']}"), ("DELETE", f"{KEYS}/not-a-uuid")],
    )
    assert len(auth_client.get(KEYS).json()) == 1


def test_api_key_read_is_the_orms(auth_client, user):
    # The key is read by a written statement on every call: it must build the same key and user
    # the ORM would, field by field.
    secret = create_key(auth_client, ["memories:read"])["key"]
    expected = ApiKey.objects.select_related("user").get(prefix=secret[:12])

    read = api_key_authenticate(secret)

    fields = [field.attname for field in ApiKey._meta.concrete_fields]
    assert [getattr(read, name) for name in fields] == [getattr(expected, n) for n in fields]
    user_fields = [field.attname for field in User._meta.concrete_fields]
    assert [getattr(read.user, name) for name in user_fields] == [
        getattr(expected.user, name) for name in user_fields
    ]
    assert read.user == user and not read._state.adding and not read.user._state.adding


def test_a_deactivated_users_key_is_401(auth_client, user):
    secret = create_key(auth_client, ["memories:read"])["key"]
    User.objects.filter(pk=user.pk).update(is_active=False)

    response = key_client(secret).get(MEMORIES)

    assert response.status_code == 401
    assert api_key_authenticate(secret) is None
