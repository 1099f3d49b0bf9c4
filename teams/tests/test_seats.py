"""Seats against the local Stripe: the team subscription's quantity is the seat count, and
Stripe's webhook keeps it in step."""

import dataclasses

import pytest

from accounts.models import User
from billing.selectors import current_subscription
from billing.tiers import TIERS, Tier, limits_for
from conftest import bearer_client
from providers.payments import stripe_api
from teams.models import Membership
from teams.services import organisation_create
from teams.tests.conftest import TEAMS, join, token_from_mail

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid_team(user, subscribe):
    """``user`` owns an organisation and pays for 3 team seats."""
    subscribe("team", seats=3)
    return organisation_create(owner=user, name="Acme")


def person(email: str) -> User:
    return User.objects.create_user(email, "pw-long-enough-1")


def quantity_changed_at_stripe(user, seats: int, deliver) -> None:
    """The seat count changed in Stripe (its dashboard, the portal); its webhook tells us."""
    data = current_subscription(user=user).stripe_data
    item = data["items"]["data"][0]
    stripe_api.subscription_change(subscription_id=data["id"], item_id=item["id"],
                                   price_id=item["price"]["id"], quantity=seats)  # fmt: skip
    deliver()


def test_invitations_up_to_the_seat_count_then_refused_naming_the_limit(
    paid_team, auth_client, invite
):
    # The owner holds one of the three seats; two invitations take the other two.
    assert invite(auth_client, paid_team, "a@acme.example").status_code == 201
    assert invite(auth_client, paid_team, "b@acme.example").status_code == 201

    refused = invite(auth_client, paid_team, "c@acme.example")

    assert refused.status_code == 403
    error = refused.json()["error"]
    assert error["code"] == "QUOTA_EXCEEDED"
    assert error["details"] == {
        "limit": "seats", "seats": 3, "members": 1, "pending_invitations": 2
    }  # fmt: skip
    seats = auth_client.get(f"{TEAMS}/{paid_team.pk}/seats").json()
    assert (seats["limit"], seats["members"], seats["available"]) == (3, 1, 0)


def test_removing_a_member_frees_the_seat(paid_team, auth_client, invite):
    a, b = person("a@acme.example"), person("b@acme.example")
    join(paid_team, a), join(paid_team, b)
    assert invite(auth_client, paid_team, "c@acme.example").status_code == 403

    assert auth_client.delete(f"{TEAMS}/{paid_team.pk}/members/{a.pk}").status_code == 204

    assert invite(auth_client, paid_team, "c@acme.example").status_code == 201


def test_joining_beyond_the_seats_is_refused(paid_team, auth_client, invite):
    invite(auth_client, paid_team, "late@acme.example")
    token = token_from_mail()
    join(paid_team, person("a@acme.example")), join(paid_team, person("b@acme.example"))
    late = person("late@acme.example")

    answer = bearer_client(late).post(f"{TEAMS}/invitations/accept", {"token": token},
                                      format="json")  # fmt: skip

    assert answer.status_code == 403 and answer.json()["error"]["details"]["limit"] == "seats"
    assert not Membership.objects.filter(user=late).exists()


def test_a_quantity_change_by_webhook_moves_the_limit(
    paid_team, auth_client, user, invite, deliver
):
    join(paid_team, person("a@acme.example")), join(paid_team, person("b@acme.example"))
    assert invite(auth_client, paid_team, "c@acme.example").status_code == 403

    quantity_changed_at_stripe(user, 5, deliver)

    assert auth_client.get(f"{TEAMS}/{paid_team.pk}/seats").json()["limit"] == 5
    assert invite(auth_client, paid_team, "c@acme.example").status_code == 201


def test_fewer_seats_than_members_keeps_everyone_and_blocks_invitations(
    paid_team, auth_client, user, invite, deliver
):
    a, b = person("a@acme.example"), person("b@acme.example")
    join(paid_team, a), join(paid_team, b)

    quantity_changed_at_stripe(user, 1, deliver)

    seats = auth_client.get(f"{TEAMS}/{paid_team.pk}/seats").json()
    assert (seats["limit"], seats["members"], seats["over_limit"]) == (1, 3, True)
    assert "everyone stays" in seats["message"]
    assert Membership.objects.filter(organisation=paid_team).count() == 3
    refused = invite(auth_client, paid_team, "c@acme.example")
    assert refused.status_code == 403 and "everyone stays" in refused.json()["error"]["message"]
    # A member still reads the team.
    assert bearer_client(a).get(f"{TEAMS}/{paid_team.pk}").status_code == 200


def test_the_team_tier_applies_to_each_member_per_person(paid_team, auth_client, user):
    member = person("a@acme.example")
    join(paid_team, member)
    outsider = person("z@elsewhere.example")

    def per_minute(client) -> tuple[str, int]:
        answer = client.get("/api/v1/billing/usage").json()
        return answer["tier"], answer["requests_per_minute"]["limit"]

    # 200 a minute each (the team tier's per seat), not 600 pooled on the owner; the usage
    # names the tier whose limits it shows.
    assert per_minute(auth_client) == ("team", 200)
    assert per_minute(bearer_client(member)) == ("team", 200)
    assert per_minute(bearer_client(outsider)) == ("free", 20)
    Membership.objects.filter(user=member).delete()
    assert per_minute(bearer_client(member)) == ("free", 20)


def test_a_space_takes_its_owners_plan_and_a_free_owner_has_one_organisation(
    paid_team, monkeypatch
):
    """A paying team's space stores without a cap; a free owner's space has the free plan's
    limits (its own, beside the owner's), and a second organisation is refused: a team space
    is no way past one's own plan."""
    monkeypatch.setitem(TIERS, Tier.FREE, dataclasses.replace(TIERS[Tier.FREE], memories=1))
    assert limits_for(paid_team.space).memories is None
    free = person("free@elsewhere.example")
    client = bearer_client(free)
    mine = client.post(TEAMS, {"name": "Mine"}, format="json")
    assert mine.status_code == 201, mine.content
    space_memories = f"{TEAMS}/{mine.json()['id']}/memories"

    first = client.post(space_memories, {"content": "Standup at 9:30."}, format="json")
    second = client.post(space_memories, {"content": "Lunch at 12."}, format="json")
    another = client.post(TEAMS, {"name": "Another"}, format="json")

    assert first.status_code == 201
    assert second.status_code == 403 and second.json()["error"]["code"] == "QUOTA_EXCEEDED"
    assert another.status_code == 403
    assert another.json()["error"]["details"] == {"feature": "organisations", "limit": 1, "used": 1}
