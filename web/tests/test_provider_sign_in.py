"""Signing in to the web app through a provider, against a real OpenID provider process
(testing/oidc.py): the sign-in and sign-up pages' buttons post what allauth's redirect takes, the
provider sends the browser back to the page that finishes the sign-in (a second factor's code
asked there), and a team requiring SSO offers its own provider where the password is refused."""

import re
from html import unescape
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import User
from accounts.tests import test_oidc_sign_in as oidc
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from accounts.tests.test_mfa import totp_code, turn_on_totp
from accounts.tests.test_oidc_sign_in import ADA, IDP, come_back
from teams.models import TeamDomain, TeamSso, sso_provider_id
from teams.services import organisation_create

pytestmark = pytest.mark.django_db
# The real provider process and its configuration, as the accounts tests run them.
idp_process, idp = oidc.idp_process, oidc.idp

FORM = re.compile(r'<form method="post" action="([^"]+)">(.*?)</form>', re.S)
FIELD = re.compile(r'name="(\w+)" value="([^"]*)"')


@pytest.fixture(autouse=True)
def _room_for_several_sign_ins(settings):
    settings.AUTH_RATE_LIMIT = "50/m"


def provider_buttons(page) -> dict[str, dict]:
    """The page's provider forms, by the provider they post: their action and fields."""
    buttons = {}
    for action, body in FORM.findall(page.content.decode()):
        fields = {name: unescape(value) for name, value in FIELD.findall(body)}
        if "provider" in fields:
            buttons[fields["provider"]] = {"action": action, **fields}
    return buttons


def through_the_provider(browser: Client, idp, button: dict, login: str):
    """Press ``button``: allauth sends the browser to the provider, who signs ``login`` in and
    sends it back; answer where Engram's callback sends it."""
    fields = {name: value for name, value in button.items() if name != "action"}
    started = browser.post(button["action"], fields)
    assert started.status_code == 302 and started["Location"].startswith(idp.issuer)
    return come_back(browser, idp.sign_in(started["Location"], login=login))


def test_the_sign_in_and_sign_up_pages_offer_the_servers_providers_and_sign_in_through_them(idp):
    browser = Client()
    for path in ("/account/login?next=/chat/", "/account/signup?next=/chat/"):
        buttons = provider_buttons(browser.get(path))
        assert list(buttons) == [IDP]
        assert buttons[IDP]["callback_url"] == "/account/provider/done?next=%2Fchat%2F"

    back = through_the_provider(browser, idp, buttons[IDP], ADA["email"])

    assert back.status_code == 302 and back["Location"] == "/account/provider/done?next=%2Fchat%2F"
    done = browser.get(back["Location"])
    assert done.status_code == 302 and done["Location"] == "/chat/"
    page = browser.get("/memories/")
    assert page.status_code == 200 and b"Your memories" in page.content
    assert User.objects.get(email=ADA["email"]).socialaccount_set.get().provider == IDP


def test_an_account_with_a_second_factor_gives_its_code_after_the_provider(idp):
    browser = Client()
    button = provider_buttons(browser.get("/account/login"))[IDP]
    through_the_provider(browser, idp, button, ADA["email"])
    ada = User.objects.get(email=ADA["email"])
    ada.set_password(DEFAULT_PASSWORD)  # turn_on_totp signs in with it
    ada.save()
    secret, _ = turn_on_totp(ada)

    browser = Client()
    back = through_the_provider(browser, idp, button, ADA["email"])
    asked = browser.get(back["Location"])

    assert asked.status_code == 200 and b"Authentication code" in asked.content
    assert ADA["email"].encode() in asked.content
    assert browser.get("/memories/").status_code == 302  # not signed in before the code
    wrong = browser.post(back["Location"], {"code": "000000"})
    assert wrong.status_code == 200 and b"Invalid authentication code" in wrong.content
    right = browser.post(back["Location"], {"code": totp_code(secret)})
    assert right.status_code == 302
    assert browser.get(right["Location"])["Location"] == "/memories/"
    assert browser.get("/memories/").status_code == 200


def test_coming_back_with_no_sign_in_under_way_says_so():
    browser = Client()
    answer = browser.get("/account/provider/done", follow=True)

    assert answer.redirect_chain == [("/account/login", 302)]
    assert b"did not complete" in answer.content


def test_a_domain_that_requires_sso_is_offered_its_teams_provider_where_the_password_is_refused():
    team = organisation_create(owner=UserFactory(email="owner@acme.example"), name="Acme")
    User.objects.create_user("ada@acme.example", "a long passphrase of ada")
    TeamDomain.objects.create(
        organisation=team, domain="acme.example", verification_token="t", verified_at=timezone.now()
    )
    TeamSso.objects.create(
        organisation=team, issuer="https://id.acme.example", client_id="acme",
        client_secret_ciphertext="", required=True,
    )  # fmt: skip
    browser = Client()
    assert sso_provider_id(team.pk) not in provider_buttons(browser.get("/account/login"))

    refused = browser.post(
        "/account/login", {"email": "ada@acme.example", "password": "a long passphrase of ada"}
    )

    assert refused.status_code == 200 and b"requires single sign-on" in refused.content
    button = provider_buttons(refused)[sso_provider_id(team.pk)]
    assert urlsplit(button["action"]).path == "/_allauth/browser/v1/auth/provider/redirect"
    assert button["process"] == "login"
