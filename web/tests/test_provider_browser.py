"""A person signs in to the web app with their provider's button, in a real browser (Debian's
Chromium, Playwright) against a live server configured with a real OpenID provider process
(OIDC_PROVIDERS, testing/oidc.py): the button, the provider's own page, and back on their
memories, signed in, where the sign-in page had sent them."""

import json
from urllib.parse import urlsplit

import pytest

from testing.browser import chromium_launched, chromium_required
from testing.live import free_port, live_server
from testing.oidc import oidc_provider

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.heavy(15)]
IDP = "test-idp"
ADA = {"sub": "ada-1", "email": "ada@example.com", "email_verified": True, "name": "Ada"}
CLIENT = {"client_id": "engram-web", "client_secret": "client-secret-of-the-web-test-0123456789"}


def test_a_person_signs_in_with_the_providers_button_and_lands_where_they_were_going(tmp_path):
    chromium_required()
    from playwright.sync_api import sync_playwright

    port = free_port()
    callback = f"http://127.0.0.1:{port}/accounts/oidc/{IDP}/login/callback/"
    with oidc_provider(clients=[{**CLIENT, "redirect_uris": [callback]}], accounts=[ADA]) as idp:
        app = {"id": IDP, "name": "Test IdP", "server_url": idp.issuer,
               "client_id": CLIENT["client_id"], "secret": CLIENT["client_secret"]}  # fmt: skip
        env = {"OIDC_PROVIDERS": json.dumps([app]), "EMBEDDING_BACKEND": "hashing",
               "LOG_LEVEL": "WARNING"}  # fmt: skip
        with (
            live_server(env, tmp_path / "server.log", port=port) as server,
            sync_playwright() as playwright,
        ):
            browser = chromium_launched(playwright)
            try:
                page = browser.new_page()
                page.goto(f"{server.url}/chat/")  # signed out: sent to sign in first
                assert urlsplit(page.url).path == "/account/login"
                page.get_by_role("button", name="Test IdP").click()

                page.wait_for_url(f"{idp.issuer}/interaction/**")
                page.get_by_label("Account").fill(ADA["email"])
                page.get_by_role("button", name="Sign in").click()

                page.wait_for_url(f"{server.url}/chat/")
                assert page.get_by_role("button", name="Sign out").is_visible()
                page.goto(f"{server.url}/memories/")
                assert page.get_by_role("heading", name="Your memories").is_visible()
            finally:
                browser.close()
