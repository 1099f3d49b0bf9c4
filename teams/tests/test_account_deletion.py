"""An account deleted by its owner (deletion.services.account_delete), as the teams see it: an
organisation only they are in goes with them, one with members refuses, and leaving another
is logged."""

import pytest

from accounts.models import User
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from core.errors import Conflict
from deletion.services import account_delete
from memories.models import Memory
from teams.models import AuditAction, AuditEvent, Membership, Organisation
from teams.services import organisation_create
from teams.tests.conftest import join, remember

pytestmark = pytest.mark.django_db


def delete(user) -> None:
    account_delete(user=user, password=DEFAULT_PASSWORD, confirm_email=user.email)


def test_an_owner_with_members_is_refused_and_nothing_changes(team, owner, people):
    remember(team.space, "The deploy key rotates on Mondays.")

    with pytest.raises(Conflict) as refused:
        delete(owner)

    assert refused.value.details == {"organisations": [{"id": str(team.pk), "name": "Acme"}]}
    assert "Acme" in refused.value.message
    assert User.objects.filter(pk=owner.pk).exists()
    assert Memory.objects.filter(user=team.space).count() == 1
    assert Membership.objects.filter(organisation=team).count() == 3


def test_an_organisation_only_its_owner_is_in_goes_with_them(owner, team):
    space = team.space
    remember(space, "Our standup is at ten.")

    delete(owner)

    assert not Organisation.objects.filter(pk=team.pk).exists()
    assert not User.objects.filter(pk=space.pk).exists()
    assert not Memory.objects.filter(user=space).exists()


def test_a_member_leaving_is_logged_and_the_teams_memories_stay(team, people):
    member, _ = people["member"]
    remember(team.space, "The office closes at six.")
    elsewhere = organisation_create(owner=UserFactory(), name="Other")
    join(elsewhere, member)

    delete(member)

    assert Memory.objects.filter(user=team.space).count() == 1
    assert not Membership.objects.filter(user_id=member.pk).exists()
    left = AuditEvent.objects.filter(action=AuditAction.LEFT, actor_email=member.email)
    assert sorted(left.values_list("organisation__name", flat=True)) == ["Acme", "Other"]
