"""The connect handshake end to end through its URLs: start, approve on the page, collect the
key once, use it, disconnect."""

from datetime import timedelta

import pytest
from django.shortcuts import resolve_url
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey
from connect.models import ConnectRequest, ConnectStatus
from connect.services import normalize_user_code

pytestmark = pytest.mark.django_db
START = "/api/v1/connect/requests"
PAGE = "/connect/extension/"


@pytest.fixture(autouse=True)
def _no_rate_limit(settings):
    settings.RATELIMIT_ENABLE = False


def start(client_name: str = "Engram for Chromium") -> dict:
    response = APIClient().post(START, {"client_name": client_name}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def poll(started: dict, secret: str | None = None):
    url = f"{START}/{started['request_id']}/token"
    return APIClient().post(url, {"poll_secret": secret or started["poll_secret"]}, format="json")


def approve(client, code: str, decision: str = "approve"):
    return client.post(PAGE, {"code": code, "decision": decision})


def test_the_signed_in_user_approves_and_the_client_collects_a_scoped_key_once(client, user):
    # Given a client that started a request
    started = start()
    assert started["approval_url"].endswith(f"{PAGE}?code={started['user_code']}")
    assert poll(started).status_code == 202
    # When the signed-in user opens the approval page, sees the code and approves
    client.force_login(user)
    page = client.get(f"{PAGE}?code={started['user_code']}")
    assert page.status_code == 200
    assert started["user_code"] in page.content.decode()
    assert "Engram for Chromium" in page.content.decode()
    assert approve(client, started["user_code"]).status_code == 200
    # Then the next poll has the key, with only the memories scopes; the one after, nothing
    collected = poll(started)
    assert collected.status_code == 200, collected.content
    body = collected.json()
    assert body["scopes"] == ["memories:read", "memories:write"]
    assert body["email"] == user.email
    assert collected["Cache-Control"] == "no-store"
    assert poll(started).status_code == 404
    key = ApiKey.objects.get(pk=body["key_id"], user=user)
    assert key.name.startswith("Engram for Chromium")
    # And the key works, until the client disconnects with it
    with_key = APIClient()
    with_key.credentials(HTTP_X_API_KEY=body["api_key"])
    assert (
        with_key.post("/api/v1/memories/search", {"query": "x"}, format="json").status_code == 200
    )
    assert with_key.delete("/api/v1/connect/key").status_code == 204
    refused = with_key.post("/api/v1/memories/search", {"query": "x"}, format="json")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "AUTHENTICATION_FAILED"


def test_a_wrong_secret_or_an_unknown_request_learns_nothing(client, user):
    started = start()
    client.force_login(user)
    approve(client, started["user_code"])

    wrong = poll(started, secret="not-the-secret")
    unknown = APIClient().post(f"{START}/not-a-uuid/token", {"poll_secret": "x"}, format="json")

    assert wrong.status_code == unknown.status_code == 404
    assert wrong.json()["error"]["code"] == "NOT_FOUND"
    assert poll(started).status_code == 200  # the right secret still collects it


def test_a_client_name_cannot_turn_the_approval_page_around(client, user):
    started = start("Evil Client\u202egnp.exe")
    hidden = start("\u200b\u2066")
    client.force_login(user)

    page = client.get(PAGE, {"code": started["user_code"]}).content.decode()

    assert ConnectRequest.objects.get(pk=started["request_id"]).client_name == "Evil Clientgnp.exe"
    assert "\u202e" not in page and "<bdi>Evil Clientgnp.exe</bdi>" in page
    assert ConnectRequest.objects.get(pk=hidden["request_id"]).client_name == (
        "Engram browser extension"
    )


def test_a_denied_request_gets_no_key(client, user):
    started = start()
    client.force_login(user)

    assert approve(client, started["user_code"], "deny").status_code == 200
    denied = poll(started)

    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "CONNECT_DENIED"
    assert not ApiKey.objects.filter(user=user).exists()


def test_an_expired_request_can_be_neither_approved_nor_collected(client, user):
    started = start()
    ConnectRequest.objects.filter(pk=started["request_id"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    client.force_login(user)

    assert client.get(f"{PAGE}?code={started['user_code']}").status_code == 404
    assert approve(client, started["user_code"]).status_code == 404
    expired = poll(started)
    assert expired.status_code == 410
    assert expired.json()["error"]["code"] == "CONNECT_EXPIRED"


def test_an_approved_request_that_expires_before_collection_gives_no_key(client, user):
    started = start()
    client.force_login(user)
    approve(client, started["user_code"])
    ConnectRequest.objects.filter(pk=started["request_id"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    assert poll(started).status_code == 410
    assert not ApiKey.objects.filter(user=user).exists()


def test_the_page_needs_a_signed_in_user(client, settings):
    started = start()

    response = client.get(f"{PAGE}?code={started['user_code']}")

    assert response.status_code == 302
    assert response["Location"].startswith(resolve_url(settings.LOGIN_URL))
    assert ConnectRequest.objects.get(pk=started["request_id"]).status == ConnectStatus.PENDING


def test_the_page_takes_a_typed_code_and_refuses_a_post_without_csrf(user):
    from django.test import Client

    started = start()
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    typed = started["user_code"].lower().replace("-", " ")

    assert strict.get(PAGE).status_code == 200
    assert strict.get(PAGE, {"code": typed}).status_code == 200
    assert strict.post(PAGE, {"code": typed, "decision": "approve"}).status_code == 403
    assert normalize_user_code(typed) == started["user_code"]


def test_disconnect_needs_an_api_key(auth_client):
    response = auth_client.delete("/api/v1/connect/key")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "PERMISSION_DENIED"


def test_the_poll_secret_is_not_stored():
    started = start()

    stored = ConnectRequest.objects.get(pk=started["request_id"])

    assert started["poll_secret"] not in stored.poll_secret_hash
    assert len(stored.poll_secret_hash) == 64
