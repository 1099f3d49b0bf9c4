"""Teams tests: organisations made through the services, people through the factories, team
memories stored and embedded as the background task would."""

import re

import pytest
from django.core import mail

from accounts.tests.factories import UserFactory
from billing.tests.conftest import prices, subscribe  # noqa: F401  (fixtures of the local Stripe)
from conftest import bearer_client
from memories.models import Memory
from memories.services import MemoryDraft, memories_embed, memory_create
from teams.models import Membership, Organisation, Role
from teams.services import organisation_create

TEAMS = "/api/v1/teams"


def remember(principal, text: str) -> Memory:
    """Store and embed ``text`` for ``principal`` (a person, or a team's space)."""
    memory, _ = memory_create(user=principal, draft=MemoryDraft(content=text))
    memories_embed(memory_ids=[memory.pk])
    return memory


def join(organisation: Organisation, user, role: str = Role.MEMBER) -> Membership:
    """Seat ``user`` directly (the invitation flow has its own tests)."""
    return Membership.objects.create(organisation=organisation, user=user, role=role)


@pytest.fixture
def owner(db):
    return UserFactory(email="owner@acme.example")


@pytest.fixture
def team(owner) -> Organisation:
    return organisation_create(owner=owner, name="Acme")


@pytest.fixture
def client_of():
    return bearer_client


@pytest.fixture
def people(team):
    """An admin, a member and an outsider of ``team``, each with a client."""
    admin, member, outsider = (
        UserFactory(email="admin@acme.example"),
        UserFactory(email="member@acme.example"),
        UserFactory(email="outsider@elsewhere.example"),
    )
    join(team, admin, Role.ADMIN)
    join(team, member)
    return {
        name: (user, bearer_client(user))
        for name, user in {"admin": admin, "member": member, "outsider": outsider}.items()
    }


@pytest.fixture
def invite(django_capture_on_commit_callbacks):
    """Invite ``email`` to ``organisation`` as ``client``, the mail sent as after a commit."""

    def run(client, organisation, email: str, **body):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(f"{TEAMS}/{organisation.pk}/invitations",
                               {"email": email, **body}, format="json")  # fmt: skip

    return run


def token_from_mail() -> str:
    """The token of the invitation link in the last mail sent."""
    return re.search(r"token=([\w-]+)", mail.outbox[-1].body).group(1)
