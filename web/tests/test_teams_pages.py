"""The teams pages (Django's test client): an organisation created, a member invited by mail,
an invitation revoked, roles changed and members removed by whom the teams' rules allow, the
team kept out of one's searches, leaving, and the owner deleting it by typing its name. Every
refusal is the teams services' own; another organisation is the 404 page."""

import pytest
from django.core import mail
from django.test import Client

from accounts.tests.factories import UserFactory
from teams.models import Invitation, Membership, Organisation, Role
from teams.services import organisation_create
from teams.tests.conftest import join

pytestmark = pytest.mark.django_db

HTML = "text/html"


def browser_of(user) -> Client:
    client = Client(HTTP_ACCEPT=HTML)
    client.force_login(user)
    return client


def test_an_owner_creates_an_organisation_and_invites_by_mail(
    browser, person, django_capture_on_commit_callbacks
):
    assert b"None yet." in browser.get("/teams/").content
    refused = browser.post("/teams/new", {"name": "  "})
    created = browser.post("/teams/new", {"name": "Acme <ops>"}, follow=True)
    [organisation] = Organisation.objects.filter(owner=person)
    page = f"/teams/{organisation.pk}/"
    with django_capture_on_commit_callbacks(execute=True):
        invited = browser.post(
            f"{page}invite", {"email": "Ada@Example.com", "role": "admin"}, follow=True
        )
    again = browser.post(f"{page}invite", {"email": "ada@example.com", "role": "member"})

    assert refused.status_code == 400 and b"This field is required." in refused.content
    assert created.redirect_chain == [(page, 302)]
    assert b"<h1>Acme &lt;ops&gt;</h1>" in created.content
    assert b"An invitation is on its way to ada@example.com." in invited.content
    [sent] = mail.outbox
    assert sent.to == ["ada@example.com"] and "/teams/invitations/accept?token=" in sent.body
    assert b"ada@example.com (admin, until" in invited.content
    assert again.status_code == 400 and b"already has an open invitation" in again.content
    listed = browser.get("/teams/").content.decode()
    assert f'<a href="{page}">Acme &lt;ops&gt;</a> <span class="muted">(owner)</span>' in listed


def test_the_owner_revokes_changes_roles_removes_and_deletes(browser, person):
    acme = organisation_create(owner=person, name="Acme")
    member = UserFactory(email="member@example.com")
    join(acme, member)
    page = f"/teams/{acme.pk}/"
    browser.post(f"{page}invite", {"email": "new@example.com", "role": "member"})
    invitation = Invitation.objects.get(organisation=acme)

    browser.post(f"{page}invitations/{invitation.pk}/revoke")
    invitation.refresh_from_db()
    promoted = browser.post(f"{page}members/{member.pk}/role", {"role": "admin"}, follow=True)
    owner_moved = browser.post(f"{page}members/{person.pk}/role", {"role": "member"}, follow=True)
    browser.post(f"{page}members/{member.pk}/remove")
    wrong_name = browser.post(f"{page}delete", {"name": "acme"})
    deleted = browser.post(f"{page}delete", {"name": "Acme"}, follow=True)

    assert invitation.revoked_at is not None
    assert b"The role is now admin." in promoted.content
    assert b"Ownership does not move by a role change." in owner_moved.content
    assert wrong_name.status_code == 400
    assert b"Type the organisation&#x27;s name exactly to confirm." in wrong_name.content
    assert deleted.redirect_chain == [("/teams/", 302)]
    assert b"Acme and its team memories are deleted." in deleted.content
    assert not Organisation.objects.filter(pk=acme.pk).exists()
    assert not Membership.objects.filter(user=member).exists()


def test_a_member_sees_the_team_may_not_manage_it_and_leaves(person):
    acme = organisation_create(owner=UserFactory(), name="Acme")
    join(acme, person)
    admin = UserFactory()
    join(acme, admin, Role.ADMIN)
    browser = browser_of(person)
    page = f"/teams/{acme.pk}/"

    shown = browser.get(page).content.decode()
    invite = browser.post(
        f"{page}invite", {"email": "x@example.com", "role": "member"}, follow=True
    )
    remove = browser.post(f"{page}members/{admin.pk}/remove", follow=True)
    out = browser.post(f"{page}search", {}, follow=True)
    left = browser.post(f"{page}leave", follow=True)

    assert "Invite someone" not in shown and "Delete the organisation" not in shown
    assert "Remove" not in shown and "Leave Acme" in shown
    assert b"Only an organisation&#x27;s admin or owner may do this." in invite.content
    assert not Invitation.objects.exists()
    assert b"Only an organisation&#x27;s admin or owner may do this." in remove.content
    assert b"The team&#x27;s memories stay out of your searches and chats." in out.content
    assert left.redirect_chain == [("/teams/", 302)]
    assert not Membership.objects.filter(user=person).exists()
    assert Membership.objects.filter(user=admin).exists()


def test_another_organisation_is_the_404_page_and_untouched(browser):
    theirs = organisation_create(owner=UserFactory(), name="Theirs")
    page = f"/teams/{theirs.pk}/"

    answers = [
        browser.get(page),
        browser.post(f"{page}invite", {"email": "x@example.com", "role": "member"}),
        browser.post(f"{page}leave"),
        browser.post(f"{page}delete", {"name": "Theirs"}),
        browser.post(f"{page}search", {"include_in_search": "on"}),
        browser.get("/teams/not-a-uuid/"),
    ]

    assert [answer.status_code for answer in answers] == [404] * 6
    assert Organisation.objects.filter(pk=theirs.pk).exists()
    assert not Invitation.objects.exists()


def test_an_organisation_named_over_two_lines_still_mails_its_invitation(
    browser, person, django_capture_on_commit_callbacks
):
    acme = organisation_create(owner=person, name="Evil\r\nBcc: victim@example.com")

    with django_capture_on_commit_callbacks(execute=True):
        sent = browser.post(f"/teams/{acme.pk}/invite", {"email": "ada@example.com",
                                                          "role": "member"})  # fmt: skip

    assert sent.status_code == 302
    [mail_sent] = mail.outbox
    assert mail_sent.subject == "Join Evil Bcc: victim@example.com on Engram"
    assert mail_sent.to == ["ada@example.com"] and not mail_sent.bcc
