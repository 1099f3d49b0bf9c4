"""The console shows organisations with members against seats, invitations, SSO settings without
the secret, and the audit log it cannot change or delete."""

import pytest

from billing.tiers import Tier
from conftest import bearer_client
from teams.models import AuditEvent, TeamSso
from teams.tests.conftest import TEAMS

pytestmark = pytest.mark.django_db
SECRET = "console-must-never-show-this-secret"


def test_every_teams_page_answers_and_never_shows_the_secret(operator_client, team, owner, people):
    owner.tier = Tier.TEAM  # SSO comes with the team plan
    owner.save(update_fields=["tier"])
    bearer_client(owner).put(f"{TEAMS}/{team.pk}/sso", {
        "issuer": "https://id.acme.example", "client_id": "acme", "client_secret": SECRET,
    }, format="json")  # fmt: skip
    sso = TeamSso.objects.get(organisation=team)
    pages = [
        "/admin/teams/organisation/", f"/admin/teams/organisation/{team.pk}/change/",
        "/admin/teams/membership/", "/admin/teams/invitation/", "/admin/teams/teamsso/",
        f"/admin/teams/teamsso/{team.pk}/change/", "/admin/teams/teamdomain/",
        "/admin/teams/auditevent/",
    ]  # fmt: skip

    for url in pages:
        page = operator_client.get(url)
        assert page.status_code == 200, url
        html = page.content.decode()
        assert SECRET not in html and sso.client_secret_ciphertext not in html, url
    assert "3 / unlimited" in operator_client.get("/admin/teams/organisation/").content.decode()


def test_the_audit_log_cannot_be_deleted_from_the_console(operator_client, team):
    event = AuditEvent.objects.get(organisation=team)

    page = operator_client.get(f"/admin/teams/auditevent/{event.pk}/delete/")

    assert page.status_code in (302, 403)
    assert AuditEvent.objects.filter(pk=event.pk).exists()
