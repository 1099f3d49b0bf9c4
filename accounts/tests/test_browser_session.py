"""The browser session (cookie mode for first-party web clients) in a real browser: Debian's
Chromium, driven by Playwright, against a live server. Sign in through allauth's browser client;
the session cookie is httpOnly and SameSite=Lax; our API takes it, with the CSRF token on unsafe
methods; a cross-site POST is refused; logging out ends the session."""

import json

import pytest
from django.test import Client

from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from testing.browser import chromium_launched, chromium_required
from testing.live import live_server

EMAIL = "web@example.com"
PASSWORD = "a-browser-passphrase-31"
ATTACKER = "http://attacker.test"
# A form whose text/plain body is JSON (the classic CSRF on a JSON API), sent on load.
CROSS_SITE_FORM = """<form method="post" action="BASE/api/v1/auth/api-keys" enctype="text/plain">
<input name='{"name": "stolen", "scopes": ["chat"], "x": "' value='"}'></form>
<script>document.forms[0].submit()</script>"""

# The first-party page's script: fetches with the session cookie, the CSRF token from its
# cookie in X-CSRFToken when asked.
CALL = """async ([method, path, body, csrf]) => {
    const token = (document.cookie.match(/(?:^|; )csrftoken=([^;]+)/) || [])[1] || "";
    const headers = {"Content-Type": "application/json"};
    if (csrf) headers["X-CSRFToken"] = token;
    const response = await fetch(path, {method, headers, credentials: "same-origin",
                                        body: body === null ? undefined : JSON.stringify(body)});
    return [response.status, await response.text()];
}"""


@pytest.fixture
def web(tmp_path, settings, transactional_db):
    chromium_required()
    from playwright.sync_api import sync_playwright

    # The server checks the password with its own (default) hashers.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    user = UserFactory(email=EMAIL)
    user.set_password(PASSWORD)
    user.save()
    env = {"LOG_LEVEL": "WARNING", "EMBEDDING_BACKEND": "hashing"}
    with live_server(env, tmp_path / "server.log") as server, sync_playwright() as playwright:
        browser = chromium_launched(playwright)
        try:
            yield server.url, browser
        finally:
            browser.close()


def test_a_browser_session_is_an_httponly_lax_cookie_that_the_api_takes_with_csrf(web):
    base, browser = web
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}/_allauth/browser/v1/config")  # sets the CSRF cookie
    call = lambda *args: page.evaluate(CALL, list(args))  # noqa: E731

    status, _ = call("POST", "/_allauth/browser/v1/auth/login",
                     {"email": EMAIL, "password": PASSWORD}, True)  # fmt: skip
    assert status == 200

    [session] = [c for c in context.cookies() if c["name"] == "sessionid"]
    assert session["httpOnly"] and session["sameSite"] == "Lax"
    assert "sessionid" not in page.evaluate("document.cookie")  # out of the page script's reach
    status, body = call("GET", "/api/v1/auth/me", None, False)
    assert status == 200 and json.loads(body)["email"] == EMAIL

    # An unsafe method without the CSRF token is refused, with it accepted.
    status, body = call("POST", "/api/v1/auth/api-keys", {"name": "x", "scopes": ["chat"]}, False)
    assert status == 403 and "CSRF" in json.loads(body)["error"]["message"]
    status, _ = call("POST", "/api/v1/auth/api-keys", {"name": "web", "scopes": ["chat"]}, True)
    assert status == 201
    status, body = call("POST", "/api/v1/auth/session/tokens", None, True)
    assert status == 200 and json.loads(body)["user"]["email"] == EMAIL

    # Another site's page posts to the API in the signed-in browser: refused.
    context.route(
        f"{ATTACKER}/**",
        lambda route: route.fulfill(
            content_type="text/html",
            body=CROSS_SITE_FORM.replace("BASE", base),
        ),
    )
    attacker = context.new_page()
    with attacker.expect_response(f"{base}/api/v1/auth/api-keys") as answer:
        attacker.goto(f"{ATTACKER}/page")
    assert answer.value.status in (401, 403)
    status, body = call("GET", "/api/v1/auth/api-keys", None, False)
    assert [key["name"] for key in json.loads(body)] == ["web"]

    # Logging out ends the session: the old cookie, sent again, is nobody's.
    status, _ = call("DELETE", "/_allauth/browser/v1/auth/session", None, True)
    assert status == 401
    context.add_cookies([session])
    status, _ = call("GET", "/api/v1/auth/me", None, False)
    assert status in (401, 403)
    context.close()


@pytest.mark.django_db
def test_signing_in_rotates_the_session_key(user):
    browser = Client()
    session = browser.session
    session["before"] = "sign-in"
    session.save()
    before = session.session_key
    browser.cookies["sessionid"] = before

    response = browser.post(
        "/_allauth/browser/v1/auth/login",
        {"email": user.email, "password": DEFAULT_PASSWORD},
        content_type="application/json",
    )

    assert response.status_code == 200
    assert browser.cookies["sessionid"].value != before


def test_signing_out_of_a_session_revokes_the_pairs_it_was_given(user):
    # They outlived the session: a shared computer's next user could keep refreshing them.
    browser = Client()
    browser.post("/account/login", {"email": user.email, "password": DEFAULT_PASSWORD})
    first = browser.post("/api/v1/auth/session/tokens").json()
    second = browser.post("/api/v1/auth/session/tokens").json()
    elsewhere = (
        Client()
        .post(
            "/api/v1/auth/login",
            {"email": user.email, "password": DEFAULT_PASSWORD},
            content_type="application/json",
        )
        .json()
    )

    browser.post("/account/logout")

    def refreshed(pair: dict) -> int:
        return (
            Client()
            .post(
                "/api/v1/auth/refresh",
                {"refresh": pair["refresh"]},
                content_type="application/json",
            )
            .status_code
        )

    assert [refreshed(first), refreshed(second)] == [401, 401]
    assert refreshed(elsewhere) == 200  # another sign-in is not this session's
