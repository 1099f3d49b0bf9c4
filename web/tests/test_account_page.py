"""The account page (Django's test client): the email changed once the new address is verified,
the password changed (other sessions end, this one stays) or set for an account made through a
provider, two-factor authentication turned on with an app's code (recovery codes shown once,
then asked at sign-in) and off, providers unlinked unless they are the last way in, the account
deleted."""

import re

import pytest
from allauth.socialaccount.models import SocialAccount
from django.core import mail
from django.test import Client

from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from accounts.tests.test_mfa import totp_code

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "another long passphrase 42"


@pytest.fixture(autouse=True)
def _room_for_several_sign_ins(settings):
    settings.AUTH_RATE_LIMIT = "50/m"


def signed_in(email: str, password: str = DEFAULT_PASSWORD) -> Client:
    browser = Client()
    answer = browser.post("/account/login", {"email": email, "password": password})
    assert answer.status_code == 302, answer.content
    return browser


def test_the_page_is_for_the_signed_in_person_only(person):
    assert Client().get("/account/")["Location"].startswith("/account/login?next=")
    page = signed_in(person.email).get("/account/")
    assert page.status_code == 200 and person.email.encode() in page.content
    assert b"(not verified)" in page.content


def test_a_new_email_takes_effect_once_its_link_is_followed(person):
    browser = signed_in(person.email)

    answer = browser.post("/account/email", {"email": "new@example.com"})

    assert answer.status_code == 302
    [sent] = mail.outbox
    assert sent.to == ["new@example.com"]
    person.refresh_from_db()
    assert person.email == "person@example.com"  # until the link is followed
    assert b"A link is on its way to new@example.com" in browser.get("/account/").content
    taken = UserFactory(email="taken@example.com")
    refused = browser.post("/account/email", {"email": taken.email})
    assert refused.status_code == 400 and b"already exists" in refused.content


def test_changing_the_password_keeps_this_session_and_ends_the_others(person):
    browser, other = signed_in(person.email), signed_in(person.email)

    wrong = browser.post(
        "/account/password", {"old_password": "not it at all", "new_password": NEW_PASSWORD}
    )
    weak = browser.post(
        "/account/password", {"old_password": DEFAULT_PASSWORD, "new_password": "1"}
    )
    right = browser.post(
        "/account/password", {"old_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD}
    )

    assert wrong.status_code == 400 and b"The current password is wrong" in wrong.content
    assert weak.status_code == 400 and b"too short" in weak.content
    assert right.status_code == 302
    assert browser.get("/account/").status_code == 200
    assert other.get("/account/").status_code == 302  # signed out
    assert (
        Client()
        .post("/account/login", {"email": person.email, "password": DEFAULT_PASSWORD})
        .status_code
        == 200
    )  # refused: the form again
    signed_in(person.email, NEW_PASSWORD)


def test_an_account_made_through_a_provider_sets_a_first_password_and_cannot_drop_its_last_way_in():
    user = UserFactory(email="ada@example.com")
    user.set_unusable_password()
    user.save()
    link = SocialAccount.objects.create(user=user, provider="test-idp", uid="ada-1")
    browser = Client()
    browser.force_login(user, backend="allauth.account.auth_backends.AuthenticationBackend")

    page = browser.get("/account/")
    last = browser.post(f"/account/providers/{link.pk}/unlink", follow=True)

    assert b"Set password" in page.content and b"Set a password first" in page.content
    assert b"last way to sign in" in last.content and SocialAccount.objects.filter(pk=link.pk)
    assert browser.post("/account/password", {"new_password": NEW_PASSWORD}).status_code == 302
    signed_in(user.email, NEW_PASSWORD)
    unlinked = browser.post(f"/account/providers/{link.pk}/unlink", follow=True)
    assert b"The provider is unlinked" in unlinked.content
    assert not SocialAccount.objects.filter(pk=link.pk).exists()


def test_another_persons_linked_provider_is_a_404(person):
    other = UserFactory(email="other@example.com")
    link = SocialAccount.objects.create(user=other, provider="test-idp", uid="other-1")
    browser = signed_in(person.email)

    assert browser.post(f"/account/providers/{link.pk}/unlink").status_code == 404
    assert browser.post("/account/providers/not-a-number/unlink").status_code == 404
    assert SocialAccount.objects.filter(pk=link.pk).exists()


def test_two_factor_is_turned_on_with_the_apps_code_asked_at_sign_in_then_turned_off(person):
    browser = signed_in(person.email)
    page = browser.get("/account/").content.decode()
    secret = re.search(r"Key: <code>([A-Z2-7]+)</code>", page).group(1)
    assert "<svg" in page and "otpauth" not in page  # the QR code, not the URL in the page

    wrong = browser.post("/account/two-factor", {"password": DEFAULT_PASSWORD, "code": "000000"})
    no_password = browser.post(
        "/account/two-factor", {"password": "not it", "code": totp_code(secret)}
    )
    on = browser.post(
        "/account/two-factor", {"password": DEFAULT_PASSWORD, "code": totp_code(secret)}
    )

    assert wrong.status_code == 400 and b"This code does not match" in wrong.content
    assert (
        no_password.status_code == 400 and b"The current password is wrong" in no_password.content
    )
    assert on.status_code == 200 and on["Cache-Control"] == "no-store"
    codes = re.findall(r"<li><code>([^<]+)</code></li>", on.content.decode())
    assert len(codes) == 10
    assert b"10 recovery codes left" in browser.get("/account/").content
    # Signing in now asks for a code: a recovery code does.
    again = Client()
    asked = again.post("/account/login", {"email": person.email, "password": DEFAULT_PASSWORD})
    assert asked.status_code == 200 and b"Enter the code" in asked.content
    assert again.post("/account/login", {"code": codes[0]}).status_code == 302

    off = browser.post("/account/two-factor", {"password": DEFAULT_PASSWORD})

    assert off.status_code == 302
    assert b"Turn on" in browser.get("/account/").content
    signed_in(person.email)  # no code asked


def test_preferences_are_saved_as_the_api_saves_them(person):
    browser = signed_in(person.email)
    shown = browser.get("/account/").content.decode()
    assert re.search(r'<input type="checkbox" name="memory_enabled"[^>]* checked>', shown)  # stored

    saved = browser.post(
        "/account/profile",
        {"display_name": "Ana", "default_temperature": "0.3", "system_prompt": "Be brief.",
         "auto_extract": "on"},
    )  # fmt: skip
    unknown_model = browser.post(
        "/account/profile", {"default_model": "no-such-model", "default_temperature": "0.7"}
    )

    assert saved.status_code == 302
    person.refresh_from_db()
    assert (person.display_name, person.default_temperature, person.system_prompt) == (
        "Ana", 0.3, "Be brief."
    )  # fmt: skip
    # Unticked boxes are off, as a form sends them: memory no longer goes into prompts.
    assert (person.memory_enabled, person.auto_extract, person.save_chat_memories) == (
        False, True, False
    )  # fmt: skip
    assert unknown_model.status_code == 400 and b"No model with id" in unknown_model.content
    person.refresh_from_db()
    assert person.default_model == ""


def test_deleting_the_account_asks_for_the_address_and_password_then_signs_out(person):
    from memories.models import Memory
    from memories.tests.factories import MemoryFactory

    MemoryFactory(user=person, content="I keep bees.")
    browser, other = signed_in(person.email), signed_in(person.email)
    page = browser.get("/account/").content.decode()
    # A refused deletion's page opens at the form, where its error is.
    assert 'action="/account/delete#deletion-heading"' in page
    assert 'href="/memories/export"' in page

    wrong = browser.post(
        "/account/delete", {"confirm_email": "not@me.example", "password": DEFAULT_PASSWORD}
    )
    assert wrong.status_code == 400
    assert "Type your account&#x27;s email address to confirm." in wrong.content.decode()
    assert Memory.objects.filter(user=person).exists()

    gone = browser.post(
        "/account/delete", {"confirm_email": person.email, "password": DEFAULT_PASSWORD},
        follow=True, headers={"accept": "text/html"},
    )  # fmt: skip

    assert gone.redirect_chain[0] == ("/", 302)
    assert "Your account and everything in it are deleted." in gone.content.decode()
    assert not Memory.objects.filter(user_id=person.pk).exists()
    # This browser and every other session of the account are signed out.
    for session in (browser, other):
        assert session.get("/memories/")["Location"].startswith("/account/login")
    again = Client().post("/account/login", {"email": person.email, "password": DEFAULT_PASSWORD})
    assert again.status_code == 200 and "_auth_user_id" not in again.client.session
