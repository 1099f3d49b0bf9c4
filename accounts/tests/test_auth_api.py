"""Registration, login, token rotation, logout and password change through the public API."""

import time
from datetime import UTC, datetime

import jwt
import pytest
from allauth.account.models import EmailAddress
from django.conf import settings
from django.core import mail
from django.test import RequestFactory
from freezegun import freeze_time
from rest_framework.test import APIClient

from accounts import services
from accounts.models import User
from accounts.tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/auth/me"
PASSWORD = "/api/v1/auth/password"
STRONG = "a-much-longer-passphrase-42"


def error_of(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    assert error["request_id"] == response["X-Request-ID"]
    return error


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_register_login_refresh_logout_round_trip(api_client):
    registered = api_client.post(
        REGISTER, {"email": "Ada@Example.com", "password": STRONG, "display_name": "Ada"}
    )
    assert registered.status_code == 201, registered.content
    body = registered.json()
    assert body["user"]["email"] == "ada@example.com"
    assert body["user"]["tier"] == "free"
    assert bearer(body["access"]).get(ME).json()["display_name"] == "Ada"

    logged_in = api_client.post(LOGIN, {"email": "ADA@example.com", "password": STRONG})
    assert logged_in.status_code == 200
    refresh = logged_in.json()["refresh"]

    rotated = api_client.post(REFRESH, {"refresh": refresh})
    assert rotated.status_code == 200
    new_pair = rotated.json()
    assert bearer(new_pair["access"]).get(ME).status_code == 200

    assert api_client.post(LOGOUT, {"refresh": new_pair["refresh"]}).status_code == 204
    error_of(
        api_client.post(REFRESH, {"refresh": new_pair["refresh"]}), 401, "AUTHENTICATION_FAILED"
    )
    assert api_client.post(LOGOUT, {"refresh": new_pair["refresh"]}).status_code == 204


def test_tokens_carry_user_id_and_tier(api_client, user):
    body = api_client.post(LOGIN, {"email": user.email, "password": DEFAULT_PASSWORD}).json()

    claims = jwt.decode(body["access"], settings.SIMPLE_JWT["SIGNING_KEY"], algorithms=["HS256"])

    assert claims["user_id"] == str(user.pk)
    assert claims["tier"] == "free"
    assert claims["exp"] - claims["iat"] == 15 * 60


def test_reusing_a_rotated_refresh_token_is_a_401(api_client, user):
    refresh = api_client.post(LOGIN, {"email": user.email, "password": DEFAULT_PASSWORD}).json()[
        "refresh"
    ]
    assert api_client.post(REFRESH, {"refresh": refresh}).status_code == 200

    error_of(api_client.post(REFRESH, {"refresh": refresh}), 401, "AUTHENTICATION_FAILED")


def test_a_replayed_refresh_token_signs_out_its_sign_in_but_no_other(api_client, user):
    def signed_in() -> str:
        login = {"email": user.email, "password": DEFAULT_PASSWORD}
        return api_client.post(LOGIN, login).json()["refresh"]

    stolen, elsewhere = signed_in(), signed_in()
    newest = api_client.post(REFRESH, {"refresh": stolen}).json()["refresh"]
    newest = api_client.post(REFRESH, {"refresh": newest}).json()["refresh"]

    # One of the two holders of the copied token presents it again.
    error_of(api_client.post(REFRESH, {"refresh": stolen}), 401, "AUTHENTICATION_FAILED")

    error_of(api_client.post(REFRESH, {"refresh": newest}), 401, "AUTHENTICATION_FAILED")
    assert api_client.post(REFRESH, {"refresh": elsewhere}).status_code == 200


def test_wrong_password_and_unknown_email_look_the_same(api_client, user):
    wrong = api_client.post(LOGIN, {"email": user.email, "password": "nope-nope-nope"})
    unknown = api_client.post(LOGIN, {"email": "ghost@example.com", "password": "nope-nope-nope"})

    assert error_of(wrong, 401, "AUTHENTICATION_FAILED") == {
        **error_of(unknown, 401, "AUTHENTICATION_FAILED"),
        "request_id": wrong.json()["error"]["request_id"],
    }


def test_a_deactivated_user_cannot_log_in_or_refresh(api_client, user):
    refresh = api_client.post(LOGIN, {"email": user.email, "password": DEFAULT_PASSWORD}).json()[
        "refresh"
    ]
    User.objects.filter(pk=user.pk).update(is_active=False)

    error_of(
        api_client.post(LOGIN, {"email": user.email, "password": DEFAULT_PASSWORD}),
        401,
        "AUTHENTICATION_FAILED",
    )
    error_of(api_client.post(REFRESH, {"refresh": refresh}), 401, "AUTHENTICATION_FAILED")


def _forge(claims: dict, key: str, algorithm: str) -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def _claims(user, **overrides) -> dict:
    now = int(time.time())
    return {
        "token_type": "access",
        "user_id": str(user.pk),
        "jti": "f" * 32,
        "iat": now,
        "exp": now + 600,
        **overrides,
    }


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(
            lambda user: _forge(
                _claims(user, exp=int(time.time()) - 1),
                settings.SIMPLE_JWT["SIGNING_KEY"],
                "HS256",
            ),
            id="expired",
        ),
        pytest.param(
            lambda user: _forge(_claims(user), "a-different-signing-key-of-32-bytes!", "HS256"),
            id="tampered",
        ),
        pytest.param(lambda user: _forge(_claims(user), "", "none"), id="alg-none"),
        pytest.param(lambda user: "garbage.token.value", id="garbage"),
    ],
)
def test_bad_access_tokens_are_401_in_the_error_shape(user, make_token):
    response = bearer(make_token(user)).get(ME)

    error_of(response, 401, "AUTHENTICATION_FAILED")


def test_a_missing_token_is_401(api_client):
    response = api_client.get(ME)

    error_of(response, 401, "AUTHENTICATION_FAILED")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_refresh_token_is_not_an_access_token(api_client, user):
    refresh = api_client.post(LOGIN, {"email": user.email, "password": DEFAULT_PASSWORD}).json()[
        "refresh"
    ]

    error_of(bearer(refresh).get(ME), 401, "AUTHENTICATION_FAILED")


def test_password_change_revokes_every_refresh_token(api_client, user, auth_client):
    sessions = [
        api_client.post(LOGIN, {"email": user.email, "password": DEFAULT_PASSWORD}).json()
        for _ in range(2)
    ]

    changed = auth_client.post(PASSWORD, {"old_password": DEFAULT_PASSWORD, "new_password": STRONG})

    assert changed.status_code == 200
    for session in sessions:
        error_of(
            api_client.post(REFRESH, {"refresh": session["refresh"]}), 401, "AUTHENTICATION_FAILED"
        )
    assert api_client.post(REFRESH, {"refresh": changed.json()["refresh"]}).status_code == 200
    assert api_client.post(LOGIN, {"email": user.email, "password": STRONG}).status_code == 200


def test_password_change_needs_the_old_password(auth_client):
    response = auth_client.post(PASSWORD, {"old_password": "wrong", "new_password": STRONG})

    assert "old_password" in error_of(response, 400, "VALIDATION_ERROR")["details"]


def test_profile_settings_round_trip(auth_client):
    changes = {
        "default_model": "gpt-4o-mini",
        "default_temperature": 1.3,
        "system_prompt": "Answer briefly.",
        "memory_enabled": False,
        "auto_extract": False,
    }

    patched = auth_client.patch(ME, changes, format="json")

    assert patched.status_code == 200
    assert auth_client.get(ME).json() | changes == auth_client.get(ME).json()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"default_temperature": 2.5}, "default_temperature"),
        ({"default_temperature": -0.1}, "default_temperature"),
        ({"system_prompt": "x" * 8001}, "system_prompt"),
        ({"memory_enabled": "maybe"}, "memory_enabled"),
        # Every chat naming no model would be a 404 later.
        ({"default_model": "no-such-model"}, "default_model"),
    ],
)
def test_profile_validation_errors_name_the_field(auth_client, changes, field):
    response = auth_client.patch(ME, changes, format="json")

    assert field in error_of(response, 400, "VALIDATION_ERROR")["details"]


def test_a_registration_whose_tokens_cannot_be_issued_leaves_no_account(monkeypatch):
    def broken(*, user):
        raise RuntimeError("the token store is down")

    monkeypatch.setattr(services, "tokens_issue", broken)

    with pytest.raises(RuntimeError):
        services.user_sign_up(
            request=RequestFactory().post(REGISTER), email="ada@example.com", password=STRONG
        )

    assert not User.objects.filter(email="ada@example.com").exists()
    assert not EmailAddress.objects.filter(email="ada@example.com").exists()
    assert mail.outbox == []


@freeze_time("2026-03-01T12:00:00Z")
def test_every_token_response_says_when_the_access_token_expires(api_client, user):
    expected = {"expires_in": 15 * 60, "expires_at": "2026-03-01T12:15:00Z"}
    registered = api_client.post(REGISTER, {"email": "new@example.com", "password": STRONG})
    logged_in = api_client.post(LOGIN, {"email": user.email, "password": DEFAULT_PASSWORD})
    refreshed = api_client.post(REFRESH, {"refresh": logged_in.json()["refresh"]})
    changed = bearer(refreshed.json()["access"]).post(
        PASSWORD, {"old_password": DEFAULT_PASSWORD, "new_password": STRONG}
    )

    for response in (registered, logged_in, refreshed, changed):
        assert response.status_code in (200, 201), response.content
        body = response.json()
        assert {key: body[key] for key in expected} == expected
        claims = jwt.decode(body["access"], options={"verify_signature": False})
        assert claims["exp"] == int(datetime(2026, 3, 1, 12, 15, tzinfo=UTC).timestamp())
