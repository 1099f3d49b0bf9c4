"""Organisations over the API: the roles matrix per endpoint, invitations by email link,
leaving and removal, the audit log."""

import pytest
from django.core import mail

from accounts.models import User
from conftest import bearer_client
from teams.models import AuditAction, AuditEvent, Invitation, Membership
from teams.tests.conftest import TEAMS, remember, token_from_mail

pytestmark = pytest.mark.django_db


def code(response) -> str:
    return response.json()["error"]["code"]


def test_creating_an_organisation_makes_its_owner_and_a_space_that_cannot_sign_in(owner, client):
    owner_client = bearer_client(owner)

    answer = owner_client.post(TEAMS, {"name": "Acme"}, format="json")

    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert (body["name"], body["role"], body["include_in_search"]) == ("Acme", "owner", True)
    space = User.objects.get(team_space__pk=body["id"])
    assert not space.is_active and not space.has_usable_password()
    login = client.post("/api/v1/auth/login", {"email": space.email, "password": ""},
                        content_type="application/json")  # fmt: skip
    assert login.status_code in (400, 401)
    listed = owner_client.get(TEAMS).json()
    assert [o["id"] for o in listed["results"]] == [body["id"]] and not listed["has_more"]


def test_an_invitation_is_mailed_single_use_and_joins_the_invited_address(team, owner, invite):
    invitee = User.objects.create_user("new@acme.example", "pw-long-enough-1")

    sent = invite(bearer_client(owner), team, "NEW@acme.example")

    assert sent.status_code == 201, sent.content
    assert mail.outbox[-1].to == ["new@acme.example"] and "Acme" in mail.outbox[-1].subject
    token = token_from_mail()
    stored = Invitation.objects.get()
    assert token not in stored.token_hash and len(stored.token_hash) == 64  # only its hash
    assert "token" not in sent.json()
    # Someone else holding the link cannot use it.
    other = bearer_client(User.objects.create_user("else@acme.example", "pw-long-enough-2"))
    assert other.post(f"{TEAMS}/invitations/accept", {"token": token}, format="json"
                      ).status_code == 404  # fmt: skip
    accepted = bearer_client(invitee).post(f"{TEAMS}/invitations/accept", {"token": token},
                                           format="json")  # fmt: skip
    assert accepted.status_code == 201 and accepted.json()["role"] == "member"
    again = bearer_client(invitee).post(f"{TEAMS}/invitations/accept", {"token": token},
                                        format="json")  # fmt: skip
    assert again.status_code == 404 and code(again) == "NOT_FOUND"


def test_an_expired_invitation_is_refused(team, owner, settings, invite):
    settings.TEAMS_INVITATION_DAYS = 0  # expires as it is made
    invitee = User.objects.create_user("late@acme.example", "pw-long-enough-1")
    invite(bearer_client(owner), team, invitee.email)

    answer = bearer_client(invitee).post(
        f"{TEAMS}/invitations/accept", {"token": token_from_mail()}, format="json"
    )

    assert answer.status_code == 404
    assert not Membership.objects.filter(user=invitee).exists()


@pytest.mark.parametrize(
    ("who", "method", "path", "body", "status"),
    [
        # invitations: owner and admin; an admin invites members only
        ("member", "post", "invitations", {"email": "x@acme.example"}, 403),
        ("admin", "post", "invitations", {"email": "x@acme.example"}, 201),
        ("admin", "post", "invitations", {"email": "x@acme.example", "role": "admin"}, 403),
        ("owner", "post", "invitations", {"email": "x@acme.example", "role": "admin"}, 201),
        ("member", "get", "invitations", None, 403),
        # roles: the owner only
        ("admin", "patch", "members/{member}", {"role": "admin"}, 403),
        ("owner", "patch", "members/{member}", {"role": "admin"}, 200),
        ("owner", "patch", "members/{owner}", {"role": "member"}, 409),
        # removal: admins remove members, the owner anyone but themself
        ("member", "delete", "members/{admin}", None, 403),
        ("admin", "delete", "members/{admin}", None, 403),
        ("admin", "delete", "members/{member}", None, 204),
        ("owner", "delete", "members/{admin}", None, 204),
        ("owner", "delete", "members/{owner}", None, 409),
        # settings, SSO, audit: the owner
        ("admin", "patch", "", {"name": "Renamed"}, 403),
        ("owner", "patch", "", {"name": "Renamed"}, 200),
        ("admin", "get", "audit", None, 403),
        ("owner", "get", "audit", None, 200),
        (
            "admin",
            "put",
            "sso",
            {"issuer": "https://id.acme.example", "client_id": "c", "client_secret": "s"},
            403,
        ),
        ("admin", "post", "domains", {"domain": "acme.example"}, 403),
        ("admin", "delete", "", None, 403),
        # reading: every member
        ("member", "get", "members", None, 200),
        ("member", "get", "seats", None, 200),
        ("member", "get", "", None, 200),
        # leaving: anyone but the owner
        ("member", "delete", "membership", None, 204),
        ("owner", "delete", "membership", None, 409),
    ],
)
def test_roles_are_enforced_per_endpoint(team, owner, people, who, method, path, body, status):
    ids = {"owner": owner.pk, **{name: user.pk for name, (user, _) in people.items()}}
    client = bearer_client(owner) if who == "owner" else people[who][1]
    url = f"{TEAMS}/{team.pk}/{path.format(**ids)}".rstrip("/")

    answer = getattr(client, method)(url, body, format="json")

    assert answer.status_code == status, answer.content
    if status == 403:
        assert code(answer) == "PERMISSION_DENIED"
        details = answer.json()["error"]["details"]
        assert details["role"] == who and who not in details["allowed_roles"]


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", ""), ("patch", ""), ("delete", ""), ("get", "members"), ("get", "seats"),
     ("post", "invitations"), ("get", "audit"), ("get", "sso"), ("put", "sso"),
     ("get", "domains"), ("delete", "membership"), ("get", "memories"),
     ("post", "memories")],
)  # fmt: skip
def test_a_non_member_gets_404_on_every_organisation_endpoint(team, people, method, path):
    _, outsider = people["outsider"]

    answer = getattr(outsider, method)(f"{TEAMS}/{team.pk}/{path}".rstrip("/"), {}, format="json")

    assert answer.status_code == 404 and code(answer) == "NOT_FOUND"


def test_the_audit_log_records_who_did_what_and_is_append_only(team, owner, people):
    owner_client = bearer_client(owner)
    member, _ = people["member"]
    admin, _ = people["admin"]
    owner_client.post(f"{TEAMS}/{team.pk}/invitations", {"email": "z@acme.example"}, format="json")
    owner_client.patch(f"{TEAMS}/{team.pk}/members/{member.pk}", {"role": "admin"}, format="json")
    people["admin"][1].delete(f"{TEAMS}/{team.pk}/membership")

    events = owner_client.get(f"{TEAMS}/{team.pk}/audit").json()["results"]

    seen = [(e["action"], e["actor_email"], e["subject"]) for e in events]
    assert seen[:3] == [
        (AuditAction.LEFT, admin.email, admin.email),
        (AuditAction.ROLE_CHANGED, owner.email, member.email),
        (AuditAction.INVITED, owner.email, "z@acme.example"),
    ]
    assert seen[-1] == (AuditAction.CREATED, owner.email, "Acme")
    event = AuditEvent.objects.first()
    event.subject = "rewritten"
    with pytest.raises(ValueError, match="append-only"):
        event.save()


def test_leaving_keeps_ones_own_memories(team, people):
    member, client = people["member"]
    mine = remember(member, "My own note about ferries.")

    assert client.delete(f"{TEAMS}/{team.pk}/membership").status_code == 204

    assert client.get(f"/api/v1/memories/{mine.pk}").status_code == 200
    assert client.get(f"{TEAMS}/{team.pk}").status_code == 404
