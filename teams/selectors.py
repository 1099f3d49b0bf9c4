"""Teams reads: a user's organisations and role, seats against the subscription, the spaces a
user may read or write, the audit log. Another user's organisation is a 404."""

import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import User
from billing.tiers import Tier, effective_tier
from core.errors import NotFound, PermissionDenied
from core.ownership import owned_id
from teams.models import (
    SPACE_EMAIL_DOMAIN,
    AuditEvent,
    Invitation,
    Membership,
    Organisation,
    Role,
    TeamDomain,
    TeamSso,
    invitation_token_hash,
)

# Who may do what (docs/teams.md, Roles): the one table every service asks.
PERMISSIONS: dict[str, frozenset[str]] = {
    "read": frozenset({Role.OWNER, Role.ADMIN, Role.MEMBER}),
    "invite": frozenset({Role.OWNER, Role.ADMIN}),
    "remove": frozenset({Role.OWNER, Role.ADMIN}),
    "change_role": frozenset({Role.OWNER}),
    "manage": frozenset({Role.OWNER}),  # rename, settings, delete
    "sso": frozenset({Role.OWNER}),
    "audit": frozenset({Role.OWNER}),
}


def membership_of(*, user: User, organisation_id: Any) -> Membership:
    """``user``'s membership of the organisation; a non-member (or a malformed or unknown id)
    gets the same 404."""
    pk = owned_id(organisation_id, name="organisation")
    membership = (
        Membership.objects.select_related("organisation", "organisation__owner")
        .filter(user=user, organisation_id=pk)
        .first()
    )
    if membership is None:
        raise NotFound("No organisation with this id.")
    return membership


def membership_allowed(*, user: User, organisation_id: Any, action: str) -> Membership:
    """The membership, if its role may ``action`` (PERMISSIONS); a member whose role may not
    gets 403 naming the roles that may."""
    membership = membership_of(user=user, organisation_id=organisation_id)
    allowed = PERMISSIONS[action]
    if membership.role not in allowed:
        raise PermissionDenied(
            f"Only an organisation's {' or '.join(sorted(allowed))} may do this.",
            details={"role": membership.role, "allowed_roles": sorted(allowed)},
        )
    return membership


def may_write_memories(membership: Membership) -> bool:
    return membership.role != Role.MEMBER or membership.organisation.members_write


def organisations_of(*, user: User) -> QuerySet[Membership]:
    return Membership.objects.filter(user=user).select_related("organisation")


def team_names_of(*, user: User) -> dict[uuid.UUID, str]:
    """The names of ``user``'s teams, by organisation id, in the order they joined. The web
    app's memories page asks on every load: one statement written once, where the ORM spent
    ~1 ms compiling the join (a tenth of the page, measured with `make bench-web`)."""
    with connection.cursor() as cursor:
        cursor.execute(_TEAM_NAMES_SQL, [user.pk])
        return dict(cursor.fetchall())


_TEAM_NAMES_SQL = (
    f"SELECT m.organisation_id, o.name FROM {Membership._meta.db_table} m "
    f"JOIN {Organisation._meta.db_table} o ON o.id = m.organisation_id "
    "WHERE m.user_id = %s ORDER BY m.joined_at, m.id"
)


def members_of(*, organisation: Organisation) -> QuerySet[Membership]:
    return organisation.memberships.select_related("user")


def invitations_addressed(*, user: User, token: str) -> QuerySet[Invitation]:
    """The open, unexpired invitation ``token`` names, if it is addressed to ``user``: the one
    the link's page shows and its button accepts."""
    return Invitation.objects.filter(
        token_hash=invitation_token_hash(token),
        email__iexact=user.email,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    )


def invitations_open(*, organisation: Organisation) -> QuerySet[Invitation]:
    return organisation.invitations.filter(accepted_at__isnull=True, revoked_at__isnull=True)


def audit_events(*, organisation: Organisation) -> QuerySet[AuditEvent]:
    return organisation.audit_events.all()


def domains_of(*, organisation: Organisation) -> QuerySet[TeamDomain]:
    return organisation.domains.all()


# --- seats ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seats:
    limit: int | None  # None: unlimited (billing off: a self-hosted server sells no seats)
    members: int
    pending: int  # open, unexpired invitations hold a seat until they expire

    @property
    def taken(self) -> int:
        return self.members + self.pending

    @property
    def over_limit(self) -> bool:
        return self.limit is not None and self.members > self.limit

    @property
    def available(self) -> int | None:
        return None if self.limit is None else max(self.limit - self.taken, 0)


def seat_limit(organisation: Organisation) -> int | None:
    """The seats the owner pays for: their team subscription's quantity (billing keeps
    ``User.seats`` in step with Stripe through its webhook); one seat (the owner's) without a
    team subscription; unlimited while billing is off."""
    if not settings.BILLING_ENABLED:
        return None
    owner = organisation.owner
    return owner.seats if owner.tier == Tier.TEAM else 1


def seats_of(*, organisation: Organisation, now: Any = None) -> Seats:
    now = now or timezone.now()
    return Seats(
        limit=seat_limit(organisation),
        members=organisation.memberships.count(),
        pending=invitations_open(organisation=organisation).filter(expires_at__gt=now).count(),
    )


# --- team memory ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Space:
    """A team memory space a user may reach: the principal that owns its memories."""

    organisation_id: uuid.UUID
    space: User
    writable: bool


def readable_spaces(*, user: User, include: str | None = None) -> list[Space]:
    """The team spaces a search by ``user`` covers.

    ``include``: None follows the member's own defaults (``include_in_search`` per team);
    ``"none"`` none; ``"all"`` every team they belong to; ``"team:<id>"`` that one team (a team
    they are not in is a 404, as if it did not exist)."""
    if include == "none" or getattr(user, "is_anonymous", False):
        return []
    if include is None and not _searches_a_team(user.pk):
        return []
    memberships = Membership.objects.filter(user=user).select_related(
        "organisation", "organisation__space"
    )
    if include is None:
        memberships = memberships.filter(include_in_search=True)
    elif include.startswith("team:"):
        pk = owned_id(include.removeprefix("team:"), name="organisation")
        memberships = memberships.filter(organisation_id=pk)
        if not memberships:
            raise NotFound("No organisation with this id.")
    return [
        Space(m.organisation_id, m.organisation.space, may_write_memories(m))
        for m in memberships.order_by("joined_at")
    ]


def _searches_a_team(user_id: Any) -> bool:
    """Whether any of ``user_id``'s memberships is in their searches by default. Asked on every
    search, and most users are in no team: one statement written once, where the ORM spent
    ~1 ms a search compiling the memberships' read (a quarter of a search's request, profiled)."""
    with connection.cursor() as cursor:
        cursor.execute(_SEARCHES_A_TEAM_SQL, [user_id])
        return cursor.fetchone() is not None


_SEARCHES_A_TEAM_SQL = (
    f"SELECT 1 FROM {Membership._meta.db_table} WHERE user_id = %s AND include_in_search LIMIT 1"
)


def space_of(*, user: User, organisation_id: Any, write: bool = False) -> Space:
    """The team space ``user`` reads (or, with ``write``, writes): a non-member gets a 404, a
    member whose role may not write a 403."""
    membership = membership_of(user=user, organisation_id=organisation_id)
    writable = may_write_memories(membership)
    if write and not writable:
        raise PermissionDenied(
            "Only this organisation's owner and admins may write its memories.",
            details={"role": membership.role, "allowed_roles": [Role.ADMIN, Role.OWNER]},
        )
    organisation = membership.organisation
    return Space(organisation.pk, organisation.space, writable)


def is_space(user: Any) -> bool:
    """Whether ``user`` is an organisation's memory space (never a person): by its address, so
    asking costs no query (billing asks on every request). A person who registered such an
    address is taken for a space with no organisation: no tier is granted to them."""
    return str(getattr(user, "email", "")).endswith(f"@{SPACE_EMAIL_DOMAIN}")


# --- what the team tier gives members (billing.tiers reads this: BILLING_TIER_GRANTS) ------------


def granted_tier(user: Any) -> str | None:
    """``team`` when ``user`` belongs to an organisation whose owner pays for the team tier:
    its limits and features then apply to them, per person (never pooled). An organisation's
    space has its owner's tier: a paying team's space is unlimited, a free owner's has the free
    plan's limits (and a free owner has one organisation)."""
    if not getattr(user, "pk", None) or not settings.BILLING_ENABLED:
        return None
    if is_space(user):
        organisation = Organisation.objects.filter(space_id=user.pk).select_related("owner")
        found = organisation.first()
        return effective_tier(found.owner) if found is not None else None
    paid = Membership.objects.filter(user_id=user.pk, organisation__owner__tier=Tier.TEAM).exists()
    return Tier.TEAM if paid else None


# --- SSO -----------------------------------------------------------------------------------------


def sso_domain_of(email: str) -> TeamDomain | None:
    """The verified team domain of ``email``, with its organisation and SSO settings."""
    domain = email.rsplit("@", 1)[-1].lower() if "@" in email else ""
    return (
        TeamDomain.objects.select_related("organisation", "organisation__sso")
        .filter(domain=domain, verified_at__isnull=False)
        .first()
    )


def sso_required_for(email: str) -> bool:
    """Whether password sign-in is refused for ``email`` (its domain's team requires SSO)."""
    found = sso_domain_of(email)
    sso = getattr(found.organisation, "sso", None) if found else None
    return bool(sso and sso.required)


def sso_of(*, organisation: Organisation) -> TeamSso:
    sso = TeamSso.objects.filter(organisation=organisation).first()
    if sso is None:
        raise NotFound("This organisation has no SSO settings.")
    return sso
