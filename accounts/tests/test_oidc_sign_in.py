"""Sign-in with an OpenID Connect provider, end to end against a real one (panva's
oidc-provider, testing/oidc.py): the authorization-code flow with PKCE, state and nonce, ending
in our JWT pair; the rules for linking and unlinking (docs/identity.md)."""

import base64
import hashlib
import json
import secrets
from urllib.parse import parse_qs, unquote, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount
from django.core import mail
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from testing.oidc import oidc_provider

pytestmark = pytest.mark.django_db

IDP = "test-idp"
CLIENT_ID = "engram"
CLIENT_SECRET = "client-secret-of-the-test-0123456789"
CALLBACK = f"http://testserver/accounts/oidc/{IDP}/login/callback/"
REDIRECT = "/_allauth/browser/v1/auth/provider/redirect"
TOKEN_LOGIN = "/_allauth/app/v1/auth/provider/token"
SESSION_TOKENS = "/api/v1/auth/session/tokens"
SIGN_IN_METHODS = "/api/v1/auth/sign-in-methods"
SIGNED_IN = "/signed-in"
ADA = {"sub": "ada-1", "email": "ada@example.com", "email_verified": True, "name": "Ada"}
# Accounts at the provider with the address of an Engram account (made by the tests).
BEA_VERIFIED = {"sub": "bea-1", "email": "bea@example.com", "email_verified": True}
BEA_UNVERIFIED = {"sub": "bea-2", "email": "bea@example.com", "email_verified": False}
# Someone at the provider giving, unverified, the address of a person not yet at Engram.
CARA_CLAIMED = {"sub": "mallory-1", "email": "cara@example.com", "email_verified": False}


@pytest.fixture(scope="module")
def idp_process():
    """One provider process for the module (each sign-in has its own cookies and state)."""
    with oidc_provider(
        clients=[
            {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": [CALLBACK]}
        ],
        accounts=[ADA, BEA_VERIFIED, BEA_UNVERIFIED, CARA_CLAIMED],
    ) as provider:
        yield provider


@pytest.fixture
def idp(idp_process, settings):
    """The provider, configured as OIDC_PROVIDERS would configure it."""
    provider = idp_process
    app = {
        "provider_id": IDP,
        "name": "Test IdP",
        "client_id": CLIENT_ID,
        "secret": CLIENT_SECRET,
        "settings": {"server_url": provider.issuer},
    }
    oidc = {**settings.SOCIALACCOUNT_PROVIDERS["openid_connect"], "APPS": [app]}
    settings.SOCIALACCOUNT_PROVIDERS = {**settings.SOCIALACCOUNT_PROVIDERS, "openid_connect": oidc}
    return provider


def start(browser: Client) -> str:
    """Engram's redirect to the provider: the authorization URL the browser is sent to."""
    response = browser.post(
        REDIRECT, {"provider": IDP, "callback_url": SIGNED_IN, "process": "login"}
    )
    assert response.status_code == 302, response.content
    return response["Location"]


def come_back(browser: Client, url: str):
    """The browser back at Engram's callback with what the provider gave it."""
    assert url.startswith(CALLBACK), url
    parts = urlsplit(url)
    return browser.get(parts.path, parse_qs(parts.query))


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()} | changes
    return urlunsplit(parts._replace(query=urlencode(query)))


def sign_in(idp, login: str) -> tuple[Client, object]:
    browser = Client()
    back = idp.sign_in(start(browser), login=login)
    return browser, come_back(browser, back)


def session_tokens(browser: Client):
    return browser.post(SESSION_TOKENS)


def test_sign_in_runs_the_code_flow_with_pkce_state_and_nonce_and_ends_in_our_jwt_pair(idp):
    browser = Client()
    authorize = start(browser)
    query = parse_qs(urlsplit(authorize).query)
    assert authorize.startswith(f"{idp.issuer}/auth?")
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"]
    assert query["state"] and query["nonce"] and query["response_type"] == ["code"]

    back = come_back(browser, idp.sign_in(authorize, login=ADA["email"]))

    assert back.status_code == 302 and back["Location"] == SIGNED_IN
    user = User.objects.get(email=ADA["email"])
    assert SocialAccount.objects.get(user=user).uid == ADA["sub"]
    assert EmailAddress.objects.get(user=user).verified
    assert not user.has_usable_password()
    pair = session_tokens(browser)
    assert pair.status_code == 200
    body = pair.json()
    assert {"access", "refresh", "expires_in", "expires_at"} <= body.keys()
    me = APIClient(HTTP_AUTHORIZATION=f"Bearer {body['access']}").get("/api/v1/auth/me")
    assert me.status_code == 200 and me.json()["email"] == ADA["email"]


def test_a_second_sign_in_finds_the_same_account(idp):
    sign_in(idp, ADA["sub"])
    browser, back = sign_in(idp, ADA["sub"])
    assert back["Location"] == SIGNED_IN
    assert User.objects.filter(email=ADA["email"]).count() == 1
    assert session_tokens(browser).json()["user"]["email"] == ADA["email"]


def test_a_callback_with_another_state_signs_no_one_in(idp):
    browser = Client()
    back = idp.sign_in(start(browser), login=ADA["email"])
    response = come_back(browser, with_query(back, state="not-the-state-we-sent"))

    assert "error=" in response["Location"]
    assert not User.objects.filter(email=ADA["email"]).exists()
    assert session_tokens(browser).status_code in (401, 403)
    # The browser lands on the sign-in page, told what happened (it was a 404).
    failed = urlsplit(response["Location"])
    page = browser.get(f"{failed.path}?{failed.query}", follow=True, HTTP_ACCEPT="text/html")
    assert page.status_code == 200 and page.redirect_chain[-1][0] == "/account/login"
    assert b"did not complete" in page.content


def test_a_callback_from_another_browser_signs_no_one_in(idp):
    """The state lives in the session of the browser that started: a code and state replayed
    into another browser (login CSRF) are refused."""
    back = idp.sign_in(start(Client()), login=ADA["email"])
    other = Client()
    response = come_back(other, back)
    assert "error=" in response["Location"]
    assert session_tokens(other).status_code in (401, 403)


def test_an_id_token_without_the_nonce_we_sent_is_refused(idp):
    browser = Client()
    authorize = with_query(start(browser), nonce="a-nonce-someone-else-chose")
    response = come_back(browser, idp.sign_in(authorize, login=ADA["email"]))

    assert "error=" in response["Location"]
    assert not User.objects.filter(email=ADA["email"]).exists()


def test_a_code_without_its_pkce_verifier_is_refused(idp):
    """The challenge the provider saw is not the one of Engram's verifier: the provider refuses
    the code's exchange, and no one is signed in."""
    browser = Client()
    other_challenge = base64.urlsafe_b64encode(hashlib.sha256(b"x" * 43).digest()).rstrip(b"=")
    authorize = with_query(start(browser), code_challenge=other_challenge.decode())
    response = come_back(browser, idp.sign_in(authorize, login=ADA["email"]))

    assert "error=" in response["Location"]
    assert not User.objects.filter(email=ADA["email"]).exists()


# --- Linking -------------------------------------------------------------------------------------


def bea(verified: bool) -> User:
    user = UserFactory(email="bea@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=verified, primary=True)
    return user


def test_a_verified_email_signs_in_to_its_account_and_links_the_provider(idp):
    user = bea(verified=True)
    browser, back = sign_in(idp, BEA_VERIFIED["sub"])

    assert back["Location"] == SIGNED_IN
    assert SocialAccount.objects.get(user=user).uid == BEA_VERIFIED["sub"]
    assert session_tokens(browser).json()["user"]["id"] == str(user.pk)
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)  # a verified address keeps its password


def test_an_unverified_email_from_the_provider_never_links_to_an_existing_account(idp):
    user = bea(verified=True)
    browser, _ = sign_in(idp, BEA_UNVERIFIED["sub"])

    assert not SocialAccount.objects.filter(user=user).exists()
    assert session_tokens(browser).status_code in (401, 403)
    assert User.objects.filter(email__iexact=user.email).count() == 1


def test_a_verified_provider_email_takes_an_unverified_account_from_whoever_set_its_password(
    idp,
):
    """Someone signed up with bea's address but never verified it; bea signs in with a
    provider that vouches for it: the squatter's password and refresh tokens stop working."""
    user = bea(verified=False)
    squatter = APIClient().post(
        "/api/v1/auth/login", {"email": user.email, "password": DEFAULT_PASSWORD}, format="json"
    )
    _, back = sign_in(idp, BEA_VERIFIED["sub"])

    assert back["Location"] == SIGNED_IN
    user.refresh_from_db()
    assert not user.has_usable_password()
    refresh = APIClient().post("/api/v1/auth/refresh", {"refresh": squatter.json()["refresh"]})
    assert refresh.status_code == 401


def reset_through_the_web_app(email: str, password: str) -> None:
    client = Client()
    client.post("/account/password/reset", {"email": email})
    link = next(w for w in mail.outbox[-1].body.split() if "/account/password/reset/" in w)
    client.post(
        "/account/" + link.split("/account/", 1)[1], {"password1": password, "password2": password}
    )


def reset_through_allauth(email: str, password: str) -> None:
    headless = "/_allauth/app/v1/auth/password"
    APIClient().post(f"{headless}/request", {"email": email}, format="json")
    link = next(w for w in mail.outbox[-1].body.split() if "/account/password/reset/" in w)
    key = unquote(link.split("/account/password/reset/", 1)[1])
    APIClient().post(f"{headless}/reset", {"key": key, "password": password}, format="json")


@pytest.mark.parametrize("reset", [reset_through_the_web_app, reset_through_allauth])
def test_an_unverified_new_email_signs_no_one_in_and_its_owner_takes_the_account_back(idp, reset):
    """Mallory signs up first through a provider that never verified cara's address. No one is
    signed in until Engram's own link is followed; when cara takes the account with a reset
    link, Mallory's provider account no longer leads into it (account pre-hijacking)."""
    browser, _ = sign_in(idp, CARA_CLAIMED["sub"])

    assert session_tokens(browser).status_code in (401, 403)
    [verification] = [m for m in mail.outbox if m.to == ["cara@example.com"]]
    assert "/account/verify-email/" in verification.body
    reset("cara@example.com", "cara's own phrase")
    cara = User.objects.get(email="cara@example.com")
    assert cara.check_password("cara's own phrase")
    assert not SocialAccount.objects.filter(user=cara).exists()

    again, _ = sign_in(idp, CARA_CLAIMED["sub"])

    answer = session_tokens(again)
    assert answer.status_code != 200 or answer.json()["user"]["id"] != str(cara.pk)
    assert not SocialAccount.objects.filter(user=cara).exists()


# --- Unlinking -----------------------------------------------------------------------------------


def bearer(browser: Client) -> APIClient:
    return APIClient(HTTP_AUTHORIZATION=f"Bearer {session_tokens(browser).json()['access']}")


def test_the_last_way_to_sign_in_cannot_be_unlinked(idp):
    browser, _ = sign_in(idp, ADA["sub"])
    api = bearer(browser)
    methods = api.get(SIGN_IN_METHODS).json()
    assert methods["password"] is False
    [linked] = methods["linked_accounts"]
    assert (linked["provider"], linked["name"]) == (IDP, "Test IdP")

    refused = api.delete(f"/api/v1/auth/linked-accounts/{linked['id']}")

    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "LAST_SIGN_IN_METHOD"
    assert SocialAccount.objects.filter(pk=linked["id"]).exists()


def test_a_provider_is_unlinked_while_a_password_remains(idp):
    user = bea(verified=True)
    browser, _ = sign_in(idp, BEA_VERIFIED["sub"])
    api = bearer(browser)
    [linked] = api.get(SIGN_IN_METHODS).json()["linked_accounts"]

    assert api.delete(f"/api/v1/auth/linked-accounts/{linked['id']}").status_code == 204
    assert not SocialAccount.objects.filter(user=user).exists()
    assert api.get(SIGN_IN_METHODS).json() == {"password": True, "linked_accounts": []}


def test_another_users_linked_account_is_a_404(idp, other_client):
    sign_in(idp, ADA["sub"])
    account = SocialAccount.objects.get(uid=ADA["sub"])
    assert other_client.delete(f"/api/v1/auth/linked-accounts/{account.pk}").status_code == 404
    assert SocialAccount.objects.filter(pk=account.pk).exists()


# --- An app that ran the provider's flow itself hands over the ID token ---------------------------


def id_token_from(idp, login: str) -> str:
    """The flow an app runs on its own (PKCE and all), up to the provider's ID token."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    query = urlencode({
        "client_id": CLIENT_ID, "redirect_uri": CALLBACK, "response_type": "code",
        "scope": "openid email profile", "state": "s", "nonce": "n",
        "code_challenge": challenge.decode(), "code_challenge_method": "S256",
    })  # fmt: skip
    back = idp.sign_in(f"{idp.issuer}/auth?{query}", login=login)
    token = httpx.post(
        f"{idp.issuer}/token",
        data={
            "grant_type": "authorization_code",
            "code": parse_qs(urlsplit(back).query)["code"][0],
            "redirect_uri": CALLBACK,
            "code_verifier": verifier,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    )
    assert token.status_code == 200, token.text
    return token.json()["id_token"]


def hand_over(id_token: str):
    body = {"provider": IDP, "process": "login", "token": {"client_id": CLIENT_ID,
                                                            "id_token": id_token}}  # fmt: skip
    return APIClient().post(TOKEN_LOGIN, body, format="json")


def test_an_apps_id_token_signs_in_with_our_jwt_pair(idp):
    response = hand_over(id_token_from(idp, ADA["email"]))

    assert response.status_code == 200, response.content
    meta = response.json()["meta"]
    assert {"access_token", "refresh_token", "expires_in", "expires_at"} <= meta.keys()
    me = APIClient(HTTP_AUTHORIZATION=f"Bearer {meta['access_token']}").get("/api/v1/auth/me")
    assert me.json()["email"] == ADA["email"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.mark.parametrize("tampering", ["claims", "unsigned", "unsigned-with-kid", "hmac"])
def test_a_tampered_id_token_is_refused(idp, tampering):
    header, payload, signature = id_token_from(idp, ADA["email"]).split(".")
    claims = json.loads(_unb64(payload)) | {"email": "victim@example.com", "sub": "victim"}
    if tampering == "claims":  # the provider's signature over other claims
        forged = f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"
    else:  # alg none and no signature, or an HMAC "keyed" with the provider's public key
        kid = json.loads(_unb64(header))["kid"]
        alg, key_id = {"unsigned": ("none", None), "unsigned-with-kid": ("none", kid),
                       "hmac": ("HS256", kid)}[tampering]  # fmt: skip
        forged_header = {"alg": alg, "typ": "JWT"} | ({"kid": key_id} if key_id else {})
        forged = f"{_b64(json.dumps(forged_header).encode())}.{_b64(json.dumps(claims).encode())}."
        if alg == "HS256":
            forged += signature

    response = hand_over(forged)

    assert response.status_code == 400
    assert not User.objects.filter(email="victim@example.com").exists()
    assert not SocialAccount.objects.exists()


def test_our_schema_links_allauths_own(api_client):
    ours = api_client.get("/api/schema/?format=json").json()
    assert "/_allauth/openapi.json" in ours["info"]["description"]
    assert "/api/v1/auth/session/tokens" in ours["paths"]
    assert "/api/v1/auth/linked-accounts/{account_id}" in ours["paths"]


def test_the_client_secret_is_in_no_answer_and_no_table(idp, caplog):
    from allauth.socialaccount.models import SocialApp

    caplog.set_level("DEBUG")
    config = APIClient().get("/_allauth/app/v1/config")
    _, back = sign_in(idp, ADA["sub"])

    assert IDP in config.content.decode()
    assert CLIENT_SECRET not in config.content.decode()
    assert CLIENT_SECRET not in back.content.decode()
    assert not SocialApp.objects.exists()
    assert CLIENT_SECRET not in caplog.text
