"""A second factor: TOTP set up through allauth's headless API, codes computed here as an
authenticator app would; recovery codes work once; every sign-in ends in our JWT pair."""

import base64
import hashlib
import hmac
import struct
import time

import pytest
from allauth.mfa.models import Authenticator
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from freezegun import freeze_time
from rest_framework.test import APIClient

from accounts.tests.conftest import new_ring
from accounts.tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

HEADLESS = "/_allauth/app/v1"
LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"
TOTP_PERIOD = 30


@pytest.fixture(autouse=True)
def _room_for_several_logins(settings):
    # These tests sign in more often than AUTH_RATE_LIMIT's default allows in a minute.
    settings.AUTH_RATE_LIMIT = "50/m"


def totp_code(secret: str) -> str:
    """RFC 6238 with its defaults (SHA-1, 6 digits, 30 s): what an authenticator app shows."""
    counter = int(time.time()) // TOTP_PERIOD
    digest = hmac.new(
        base64.b32decode(secret, casefold=True), struct.pack(">Q", counter), hashlib.sha1
    ).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def headless(session_token: str = "") -> APIClient:
    client = APIClient()
    if session_token:
        client.credentials(HTTP_X_SESSION_TOKEN=session_token)
    return client


def login(email: str, password: str = DEFAULT_PASSWORD, **extra):
    body = {"email": email, "password": password, **extra}
    return APIClient().post(LOGIN, body, format="json")


def turn_on_totp(user) -> tuple[str, list[str]]:
    """Sign in through allauth, set up TOTP with a computed code; the secret and the recovery
    codes, as the user would write them down."""
    signed_in = headless().post(
        f"{HEADLESS}/auth/login", {"email": user.email, "password": DEFAULT_PASSWORD}, "json"
    )
    assert signed_in.status_code == 200, signed_in.content
    client = headless(signed_in.json()["meta"]["session_token"])
    # Setting up a factor asks for the password again, whatever the age of the sign-in.
    again = client.post(f"{HEADLESS}/auth/reauthenticate", {"password": DEFAULT_PASSWORD}, "json")
    assert again.status_code == 200, again.content
    offered = client.get(f"{HEADLESS}/account/authenticators/totp")
    assert offered.status_code == 404  # none yet: the answer offers a secret
    secret = offered.json()["meta"]["secret"]
    activated = client.post(
        f"{HEADLESS}/account/authenticators/totp", {"code": totp_code(secret)}, "json"
    )
    assert activated.status_code == 200, activated.content
    codes = client.get(f"{HEADLESS}/account/authenticators/recovery-codes")
    assert codes.status_code == 200, codes.content
    unused_codes = codes.json()["data"]["unused_codes"]
    shown_again = client.get(f"{HEADLESS}/account/authenticators/recovery-codes").json()["data"]
    assert "unused_codes" not in shown_again and shown_again["unused_code_count"] == 10
    return secret, unused_codes


def test_with_totp_on_a_login_needs_a_current_code(user):
    with freeze_time(timezone.now()) as clock:
        secret, _ = turn_on_totp(user)
        clock.tick(TOTP_PERIOD)  # the code used to set it up is spent

        without = login(user.email)
        wrong = login(user.email, code="000000" if totp_code(secret) != "000000" else "111111")
        right = login(user.email, code=totp_code(secret))
        replayed = login(user.email, code=totp_code(secret))
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {right.json()['access']}")
        me = client.get(ME)

    assert without.status_code == 401 and without.json()["error"]["code"] == "MFA_REQUIRED"
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "AUTHENTICATION_FAILED"
    assert right.status_code == 200, right.content
    assert replayed.status_code == 401  # a code signs in once
    assert me.status_code == 200


def test_a_recovery_code_works_once(user):
    _, recovery_codes = turn_on_totp(user)

    first = login(user.email, code=recovery_codes[0])
    again = login(user.email, code=recovery_codes[0])
    another = login(user.email, code=recovery_codes[1])

    assert first.status_code == 200, first.content
    assert again.status_code == 401
    assert another.status_code == 200


def test_a_headless_sign_in_asks_for_the_code_then_answers_our_token_pair(user):
    with freeze_time(timezone.now()) as clock:
        secret, _ = turn_on_totp(user)
        clock.tick(TOTP_PERIOD)

        first_step = headless().post(
            f"{HEADLESS}/auth/login", {"email": user.email, "password": DEFAULT_PASSWORD}, "json"
        )
        pending = [
            flow["id"] for flow in first_step.json()["data"]["flows"] if flow.get("is_pending")
        ]
        second_step = headless(first_step.json()["meta"]["session_token"]).post(
            f"{HEADLESS}/auth/2fa/authenticate",
            {"code": totp_code(secret)},
            "json",
        )
        client = APIClient()
        access = second_step.json()["meta"]["access_token"]
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
        me = client.get(ME)

    assert first_step.status_code == 401 and pending == ["mfa_authenticate"]
    assert second_step.status_code == 200, second_step.content
    assert me.status_code == 200


def test_the_totp_secret_is_encrypted_at_rest(user):
    secret, _ = turn_on_totp(user)

    stored = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP).data

    assert secret not in str(stored)


def test_rotating_the_encryption_key_keeps_the_second_factor(user, key_ring):
    old, newest = new_ring("k1"), new_ring("k2")
    key_ring(old)
    with freeze_time(timezone.now()) as clock:
        secret, recovery_codes = turn_on_totp(user)
        key_ring(f"{newest},{old}")

        call_command("rotate_encryption_key", verbosity=0)
        call_command("rotate_encryption_key", verbosity=0)
        key_ring(newest)
        clock.tick(TOTP_PERIOD)

        assert login(user.email, code=totp_code(secret)).status_code == 200
    assert login(user.email, code=recovery_codes[0]).status_code == 200
    for authenticator in Authenticator.objects.filter(user=user):
        assert all(
            authenticator.data[field].startswith("k2:")
            for field in ("secret", "seed")
            if field in authenticator.data
        )


def test_the_operator_console_asks_for_the_second_factor(user):
    user.is_staff = user.is_superuser = True
    user.save(update_fields=["is_staff", "is_superuser"])
    with freeze_time(timezone.now()) as clock:
        secret, _ = turn_on_totp(user)
        clock.tick(TOTP_PERIOD)
        browser = Client()
        form = browser.get("/admin/login/")
        without = browser.post(
            "/admin/login/", {"username": user.email, "password": DEFAULT_PASSWORD}
        )
        with_code = browser.post(
            "/admin/login/",
            {"username": user.email, "password": DEFAULT_PASSWORD, "code": totp_code(secret)},
        )

    assert 'name="code"' in form.content.decode()
    assert without.status_code == 200 and "second factor" in without.content.decode()
    assert with_code.status_code == 302
    assert browser.session["_auth_user_id"] == str(user.pk)


def test_the_web_sign_in_asks_for_the_code_alone_once_the_password_was_right(user):
    # The second step emptied the password field, and a code alone was "This field is required".
    _, recovery = turn_on_totp(user)
    browser = Client(HTTP_ACCEPT="text/html")

    first = browser.post("/account/login", {"email": user.email, "password": DEFAULT_PASSWORD})
    wrong = browser.post("/account/login", {"code": "000000"})
    second = browser.post("/account/login", {"code": recovery[0]})

    assert (
        first.status_code == 200 and b"Enter the code from your authenticator app" in first.content
    )
    assert f"Signing in as <strong>{user.email}</strong>".encode() in first.content
    assert wrong.status_code == 200 and b"Invalid authentication code" in wrong.content
    assert second.status_code == 302
    assert browser.get("/memories/").status_code == 200


def test_a_code_alone_signs_no_one_in_without_a_password_first(user):
    turn_on_totp(user)

    answer = Client(HTTP_ACCEPT="text/html").post("/account/login", {"code": "123456"})

    assert answer.status_code == 200 and b"This field is required" in answer.content
