"""Team SSO: settings (the secret encrypted, never answered), domains verified by their DNS TXT
record, sign-in through the organisation's provider (the real local OpenID provider) landing
the person in the team, and password sign-in refused once SSO is required."""

from urllib.parse import parse_qs, urlsplit

import pytest
from allauth.account.models import EmailAddress
from django.test import Client

from accounts.models import User
from billing.tiers import Tier
from conftest import bearer_client
from teams.models import AuditAction, AuditEvent, Membership, TeamSso, sso_provider_id
from teams.services import sso_client_secret
from teams.tests import dns_stub
from teams.tests.conftest import TEAMS
from testing.oidc import oidc_provider

pytestmark = pytest.mark.django_db
CLIENT_ID = "engram-acme"
CLIENT_SECRET = "acme-client-secret-0123456789abcdef"
ADA = {"sub": "ada-1", "email": "ada@acme.example", "email_verified": True, "name": "Ada"}
MALLORY = {"sub": "mal-1", "email": "boss@other.example", "email_verified": True}
PASSWORD = "a-long-enough-password-1"


@pytest.fixture(autouse=True)
def owner_on_the_team_plan(owner):
    # SSO comes with the team plan (billing/tiers.py); the refusal is tested below.
    owner.tier = Tier.TEAM
    owner.save(update_fields=["tier"])


@pytest.fixture(autouse=True)
def dns(settings):
    settings.TEAMS_DNS_RESOLVER = "teams.tests.dns_stub.txt_records"
    dns_stub.RECORDS.clear()
    return dns_stub.RECORDS


def sso_url(team) -> str:
    return f"{TEAMS}/{team.pk}/sso"


def configure(client, team, issuer="https://id.acme.example", **extra):
    body = {"issuer": issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, **extra}
    return client.put(sso_url(team), body, format="json")


def verified_domain(client, team, dns, domain="acme.example") -> dict:
    claimed = client.post(f"{TEAMS}/{team.pk}/domains", {"domain": domain}, format="json")
    assert claimed.status_code == 201, claimed.content
    body = claimed.json()
    dns[domain] = ["v=spf1 -all", body["txt_record"]]
    verified = client.post(f"{TEAMS}/{team.pk}/domains/{body['id']}/verify")
    assert verified.status_code == 200 and verified.json()["verified_at"]
    return verified.json()


@pytest.mark.parametrize("tier", [Tier.FREE, Tier.PRO, Tier.POWER])
def test_a_plan_without_sso_cannot_set_it_up(team, owner, tier):
    owner.tier = tier
    owner.save(update_fields=["tier"])
    client = bearer_client(owner)

    answers = [
        configure(client, team),
        client.post(f"{TEAMS}/{team.pk}/domains", {"domain": "gmail.com"}, format="json"),
    ]

    for answer in answers:
        assert answer.status_code == 403
        assert answer.json()["error"]["code"] == "QUOTA_EXCEEDED"
        assert answer.json()["error"]["details"] == {"feature": "sso"}
    assert not TeamSso.objects.exists() and not team.domains.exists()


def test_the_secret_is_encrypted_at_rest_and_never_answered(team, owner):
    client = bearer_client(owner)

    answer = configure(client, team)

    assert answer.status_code == 200, answer.content
    assert CLIENT_SECRET not in answer.content.decode()
    assert answer.json()["client_secret_set"] is True
    row = TeamSso.objects.get(organisation=team)
    assert CLIENT_SECRET not in row.client_secret_ciphertext
    assert sso_client_secret(row) == CLIENT_SECRET
    assert CLIENT_SECRET not in client.get(sso_url(team)).content.decode()
    # Left out, the stored secret stays.
    kept = client.put(sso_url(team), {"issuer": "https://id2.acme.example",
                                      "client_id": CLIENT_ID}, format="json")  # fmt: skip
    assert kept.status_code == 200
    assert sso_client_secret(TeamSso.objects.get(organisation=team)) == CLIENT_SECRET
    changes = AuditEvent.objects.filter(organisation=team, action=AuditAction.SSO_CHANGED)
    assert changes.count() == 2 and CLIENT_SECRET not in str(list(changes.values()))


def test_a_domain_counts_once_its_txt_record_is_published(team, owner, dns):
    client = bearer_client(owner)
    claimed = client.post(f"{TEAMS}/{team.pk}/domains", {"domain": "Acme.Example."},
                          format="json").json()  # fmt: skip
    assert claimed["domain"] == "acme.example" and claimed["verified_at"] is None
    verify = f"{TEAMS}/{team.pk}/domains/{claimed['id']}/verify"

    missing = client.post(verify)
    assert missing.status_code == 409
    assert missing.json()["error"]["details"]["txt_record"] == claimed["txt_record"]
    dns["acme.example"] = ["engram-verification=someone-elses-token"]
    assert client.post(verify).status_code == 409

    dns["acme.example"].append(claimed["txt_record"])
    assert client.post(verify).status_code == 200
    # Requiring SSO needs a verified domain: now there is one.
    assert configure(client, team, required=True).status_code == 200


def test_requiring_sso_needs_a_verified_domain(team, owner):
    answer = configure(bearer_client(owner), team, required=True)
    assert answer.status_code == 400 and "required" in answer.json()["error"]["details"]


def test_password_sign_in_is_refused_for_the_domain_once_sso_is_required(team, owner, dns, client):
    User.objects.create_user("ada@acme.example", PASSWORD)
    User.objects.create_user("bob@elsewhere.example", PASSWORD)
    owner_client = bearer_client(owner)
    verified_domain(owner_client, team, dns)
    configure(owner_client, team)

    def login(email: str):
        return client.post("/api/v1/auth/login", {"email": email, "password": PASSWORD},
                           content_type="application/json")  # fmt: skip

    assert login("ada@acme.example").status_code == 200  # SSO offered, not required yet
    configure(owner_client, team, required=True)

    refused = login("ADA@acme.example")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "SSO_REQUIRED"
    # Where to sign in instead: what a client posts to allauth's redirect as the provider.
    assert refused.json()["error"]["details"] == {
        "domain": "acme.example",
        "provider": sso_provider_id(team.pk),
    }
    assert login("bob@elsewhere.example").status_code == 200
    # allauth's own password sign-in refuses it the same way.
    headless = client.post("/_allauth/app/v1/auth/login",
                           {"email": "ada@acme.example", "password": PASSWORD},
                           content_type="application/json")  # fmt: skip
    assert headless.status_code == 403 and headless.json()["error"]["code"] == "SSO_REQUIRED"


# --- sign-in through the real local OpenID provider ----------------------------------------------


@pytest.fixture
def team_idp(team, owner, dns, settings):
    """``team`` with SSO through a real provider process, acme.example verified."""
    settings.TEAMS_SSO_ALLOW_LOCAL_ISSUERS = True  # the provider runs on this machine
    callback = f"http://testserver/accounts/oidc/{sso_provider_id(team.pk)}/login/callback/"
    client = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": [callback]}
    with oidc_provider(clients=[client], accounts=[ADA, MALLORY]) as provider:
        owner_client = bearer_client(owner)
        verified_domain(owner_client, team, dns)
        assert configure(owner_client, team, issuer=provider.issuer).status_code == 200
        yield provider


def sso_sign_in(team, provider, login: str):
    browser = Client()
    started = browser.post("/_allauth/browser/v1/auth/provider/redirect",
                           {"provider": sso_provider_id(team.pk), "callback_url": "/signed-in",
                            "process": "login"})  # fmt: skip
    assert started.status_code == 302, started.content
    assert started["Location"].startswith(f"{provider.issuer}/auth?")
    back = urlsplit(provider.sign_in(started["Location"], login=login))
    return browser, browser.get(back.path, parse_qs(back.query))


def test_a_member_of_the_sso_domain_signs_in_and_lands_in_the_team(team, team_idp):
    browser, back = sso_sign_in(team, team_idp, ADA["email"])

    assert back.status_code == 302 and back["Location"] == "/signed-in"
    ada = User.objects.get(email=ADA["email"])
    membership = Membership.objects.get(organisation=team, user=ada)
    assert (membership.role, membership.joined_via) == ("member", "sso")
    assert EmailAddress.objects.get(user=ada).verified
    tokens = browser.post("/api/v1/auth/session/tokens").json()
    teams = bearer_client(ada).get(TEAMS).json()["results"]
    assert tokens["user"]["email"] == ADA["email"] and [t["id"] for t in teams] == [str(team.pk)]
    # Again: the same person, the same membership.
    sso_sign_in(team, team_idp, ADA["sub"])
    assert Membership.objects.filter(user=ada).count() == 1
    assert AuditEvent.objects.filter(organisation=team, action=AuditAction.JOINED,
                                     subject=ADA["email"]).count() == 1  # fmt: skip


@pytest.mark.parametrize("client_kind", ["browser", "app"])
def test_the_public_configuration_names_no_organisation_and_its_sso_still_signs_in(
    team, team_idp, client_kind
):
    # allauth's configuration answers anyone the providers it lists: a team's is not among them
    # (it named every organisation with SSO, its issuer and its client id).
    config = Client().get(f"/_allauth/{client_kind}/v1/config")

    assert config.status_code == 200
    text = config.content.decode()
    for secretish in (sso_provider_id(team.pk), team.name, CLIENT_ID, team_idp.issuer):
        assert secretish not in text
    _, back = sso_sign_in(team, team_idp, ADA["email"])
    assert back.status_code == 302 and back["Location"] == "/signed-in"


@pytest.mark.parametrize(
    "issuer",
    ["http://127.0.0.1:9/realms/x", "http://169.254.169.254/latest", "http://[::1]:9/x",
     "http://localhost:9/x", "http://0.0.0.0:9/x"],
)  # fmt: skip
def test_an_issuer_on_the_servers_own_network_is_refused(team, owner, issuer):
    answer = configure(bearer_client(owner), team, issuer=issuer)

    assert answer.status_code == 400
    assert "own network" in answer.json()["error"]["details"]["issuer"][0]
    assert not TeamSso.objects.filter(organisation=team).exists()


def start_team_sign_in(team):
    return Client().post(
        "/_allauth/browser/v1/auth/provider/redirect",
        {"provider": sso_provider_id(team.pk), "callback_url": "/signed-in", "process": "login"},
    )


def test_an_issuer_that_moved_onto_the_servers_network_is_not_fetched(team, owner, settings):
    # Saved while allowed (or while its name resolved elsewhere), then fetched: checked again.
    settings.TEAMS_SSO_ALLOW_LOCAL_ISSUERS = True
    assert configure(bearer_client(owner), team, issuer="http://127.0.0.1:9/x").status_code == 200
    settings.TEAMS_SSO_ALLOW_LOCAL_ISSUERS = False

    started = start_team_sign_in(team)

    assert started.status_code == 302 and "error=" in started["Location"]


def test_an_issuer_whose_configuration_cannot_be_read_is_no_500(team, owner, settings):
    settings.TEAMS_SSO_ALLOW_LOCAL_ISSUERS = True
    with oidc_provider(clients=[], accounts=[]) as provider:
        # The provider answers its discovery document; a path under it answers 404.
        assert (
            configure(
                bearer_client(owner), team, issuer=f"{provider.issuer}/no-such-realm"
            ).status_code
            == 200
        )

        started = start_team_sign_in(team)

    assert started.status_code == 302 and "error=" in started["Location"]
    nothing_there = configure(bearer_client(owner), team, issuer="http://127.0.0.1:9/none")
    assert nothing_there.status_code == 200
    assert start_team_sign_in(team)["Location"].count("error=") == 1


def test_the_teams_provider_cannot_sign_in_an_address_of_another_domain(team, team_idp):
    _, back = sso_sign_in(team, team_idp, MALLORY["email"])

    assert "error=" in back["Location"]
    assert not User.objects.filter(email=MALLORY["email"]).exists()
    assert not Membership.objects.filter(organisation=team).exclude(role="owner").exists()
