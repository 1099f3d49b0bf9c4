"""Teams writes: organisations, invitations and seats, members and roles, team SSO and its
domains, and the append-only audit log. Each service checks the caller's role itself
(``selectors.membership_allowed``), so every door (REST, admin actions, tests) enforces the
same matrix."""

import logging
import secrets
import uuid
from datetime import timedelta
from typing import Any

import dns.resolver
from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from accounts import crypto
from accounts.models import User
from billing.tiers import allowance, allowance_required, default_tier
from core.db import transaction_lock
from core.egress import url_refusal
from core.errors import (
    Conflict,
    ErrorCode,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
    ValidationFailed,
)
from core.ownership import owned_id
from teams import selectors
from teams.models import (
    SPACE_EMAIL_DOMAIN,
    AuditAction,
    AuditEvent,
    Invitation,
    Membership,
    Organisation,
    Role,
    TeamDomain,
    TeamSso,
    invitation_token_hash,
)

logger = logging.getLogger(__name__)
TXT_PREFIX = "engram-verification="


# --- audit ---------------------------------------------------------------------------------------


def audit_record(
    *,
    organisation_id: Any,
    actor: User | None,
    action: str,
    subject: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the organisation's log (never changed afterwards)."""
    return AuditEvent.objects.create(
        organisation_id=organisation_id,
        actor=actor if actor is not None and actor.pk else None,
        actor_email=getattr(actor, "email", "") or "",
        action=action,
        subject=subject[:254],
        details=details or {},
    )


def team_memory_audit(*, user: User, organisation_id: Any, action: str, memory_ids: list) -> None:
    """Record that ``user`` read or wrote team memories (``action``: memory_read or
    memory_written): what memories' doors call after touching a team space."""
    if not memory_ids:
        return
    audit_record(
        organisation_id=organisation_id,
        actor=user,
        action=action,
        subject=f"{len(memory_ids)} memories",
        details={"memory_ids": [str(pk) for pk in memory_ids[:100]]},
    )


# --- organisations -------------------------------------------------------------------------------


def _space_create(name: str) -> User:
    """The organisation's memory principal: no usable password, inactive, no extraction. Its
    limits are its owner's plan's (``selectors.granted_tier``); its own tier is a new account's."""
    space = User(
        email=f"space-{uuid.uuid4().hex}@{SPACE_EMAIL_DOMAIN}",
        display_name=f"Team space: {name}"[:150],
        is_active=False,
        tier=default_tier(),
        memory_enabled=False,
        auto_extract=False,
        save_chat_memories=False,
    )
    space.set_unusable_password()
    space.save()
    return space


@transaction.atomic
def organisation_create(*, owner: User, name: str) -> Organisation:
    """A new organisation with ``owner`` as its owner (taking the first seat) and an empty
    team memory space."""
    name = name.strip()
    if not name:
        raise ValidationFailed(details={"name": ["Give the organisation a name."]})
    transaction_lock("teams.organisations", str(owner.pk))
    owned = Organisation.objects.filter(owner=owner).count()
    allowance_required(owner, "organisations", used=owned, what="organisation(s)")
    organisation = Organisation.objects.create(name=name, owner=owner, space=_space_create(name))
    Membership.objects.create(
        organisation=organisation, user=owner, role=Role.OWNER, joined_via="created"
    )
    audit_record(
        organisation_id=organisation.pk, actor=owner, action=AuditAction.CREATED, subject=name
    )
    return organisation


def organisation_update(
    *, user: User, organisation_id: Any, changes: dict[str, Any]
) -> Organisation:
    membership = selectors.membership_allowed(
        user=user, organisation_id=organisation_id, action="manage"
    )
    organisation = membership.organisation
    if "name" in changes:
        if not changes["name"].strip():
            raise ValidationFailed(details={"name": ["Give the organisation a name."]})
        organisation.name = changes["name"].strip()
    if "members_write" in changes:
        organisation.members_write = changes["members_write"]
    organisation.save(update_fields=["name", "members_write"])
    return organisation


@transaction.atomic
def organisation_delete(*, user: User, organisation_id: Any) -> None:
    """Delete the organisation, its team memories (its space) and its log; members keep their
    own memories."""
    membership = selectors.membership_allowed(
        user=user, organisation_id=organisation_id, action="manage"
    )
    membership.organisation.space.delete()  # cascades to the organisation and its memories


@transaction.atomic
def memberships_end(*, user: User) -> None:
    """End ``user``'s place in every organisation, before their account is deleted: an
    organisation only they are in goes with them (its memories too); leaving one where they
    are a member is logged as leaving. One they own with other members would take its
    members' team memories and its seats' payer with it: refused (409, ``details.organisations``
    naming each), until they delete it or its members leave."""
    # Locked as a joining member locks it, so no one joins one that is about to go.
    owned = list(Organisation.objects.select_for_update().filter(owner=user))
    with_others = set(
        Membership.objects.filter(organisation__in=owned)
        .exclude(user=user)
        .values_list("organisation_id", flat=True)
    )
    shared = [organisation for organisation in owned if organisation.pk in with_others]
    if shared:
        names = ", ".join(organisation.name for organisation in shared)
        raise Conflict(
            f"You own {names}, with other members: delete it, or have its members leave, "
            "before deleting your account.",
            details={
                "organisations": [
                    {"id": str(organisation.pk), "name": organisation.name}
                    for organisation in shared
                ]
            },
        )
    for organisation in owned:
        organisation.space.delete()  # cascades to the organisation and its memories
    for membership in Membership.objects.filter(user=user):
        audit_record(
            organisation_id=membership.organisation_id,
            actor=user,
            action=AuditAction.LEFT,
            subject=user.email,
            details={"account_deleted": True},
        )


# --- invitations and seats -----------------------------------------------------------------------


def _seat_refusal(seats: selectors.Seats, *, when: str) -> QuotaExceeded:
    message = (
        f"All {seats.limit} seats are taken: {when} needs a free seat. Remove someone, let an "
        "invitation expire or revoke it, or buy more seats (PATCH /api/v1/billing/subscription)."
    )
    if seats.over_limit:
        message = (
            f"The subscription has {seats.limit} seats and {seats.members} people are in the "
            "organisation: everyone stays, but nobody new can join until seats are added or "
            "people leave."
        )
    return QuotaExceeded(
        message,
        details={
            "limit": "seats",
            "seats": seats.limit,
            "members": seats.members,
            "pending_invitations": seats.pending,
        },
    )


def invitation_create(
    *, user: User, organisation_id: Any, email: str, role: str = Role.MEMBER, link_base: str
) -> tuple[Invitation, str]:
    """Invite ``email`` and mail them a single-use link that expires after
    TEAMS_INVITATION_DAYS. An open invitation holds a seat: refused (QUOTA_EXCEEDED, details
    name the seat limit) when none is free. Answers the invitation and its token (shown
    only in the mail)."""
    membership = selectors.membership_allowed(
        user=user, organisation_id=organisation_id, action="invite"
    )
    organisation = membership.organisation
    email = email.strip().lower()
    if role == Role.OWNER or (role == Role.ADMIN and membership.role != Role.OWNER):
        raise PermissionDenied(
            "Only the owner invites admins; nobody invites an owner.",
            details={
                "role": membership.role,
                "allowed_roles": [] if role == Role.OWNER else [Role.OWNER],
                "invited_role": role,
            },
        )
    with transaction.atomic():
        # One invitation at a time per organisation: two admins cannot both take the last seat.
        Organisation.objects.select_for_update().filter(pk=organisation.pk).first()
        if organisation.memberships.filter(user__email__iexact=email).exists():
            raise Conflict(f"{email} is already a member.", details={"email": [email]})
        seats = selectors.seats_of(organisation=organisation)
        if seats.limit is not None and seats.taken >= seats.limit:
            raise _seat_refusal(seats, when="an invitation")
        token = secrets.token_urlsafe(32)
        # An expired invitation to the same address is replaced.
        selectors.invitations_open(organisation=organisation).filter(
            email__iexact=email, expires_at__lte=timezone.now()
        ).update(revoked_at=timezone.now())
        try:
            with transaction.atomic():
                invitation = Invitation.objects.create(
                    organisation=organisation,
                    email=email,
                    role=role,
                    token_hash=invitation_token_hash(token),
                    invited_by=user,
                    expires_at=timezone.now() + timedelta(days=settings.TEAMS_INVITATION_DAYS),
                )
        except IntegrityError:
            raise Conflict(
                f"{email} already has an open invitation: revoke it to send another.",
                details={"email": [email]},
            ) from None
        audit_record(
            organisation_id=organisation.pk,
            actor=user,
            action=AuditAction.INVITED,
            subject=email,
            details={"role": role},
        )
        link = f"{link_base.rstrip('/')}/teams/invitations/accept?token={token}"
        transaction.on_commit(lambda: _invitation_mail(invitation, inviter=user, link=link))
    return invitation, token


def _invitation_mail(invitation: Invitation, *, inviter: User, link: str) -> None:
    days = settings.TEAMS_INVITATION_DAYS
    # A name may hold line breaks; a mail's subject is one line.
    name = " ".join(invitation.organisation.name.split())
    send_mail(
        subject=f"Join {name} on Engram",
        message=(
            f"{inviter.email} invited you to {invitation.organisation.name} on Engram.\n\n"
            f"Accept within {days} days (the link works once): {link}\n"
        ),
        from_email=None,
        recipient_list=[invitation.email],
    )


def invitation_revoke(*, user: User, organisation_id: Any, invitation_id: Any) -> None:
    membership = selectors.membership_allowed(
        user=user, organisation_id=organisation_id, action="invite"
    )
    pk = owned_id(invitation_id, name="invitation")
    changed = (
        selectors.invitations_open(organisation=membership.organisation)
        .filter(pk=pk)
        .update(revoked_at=timezone.now())
    )
    if not changed:
        raise NotFound("No open invitation with this id.")
    audit_record(
        organisation_id=membership.organisation_id,
        actor=user,
        action=AuditAction.INVITATION_REVOKED,
        subject=str(pk),
    )


def _membership_add(
    *, organisation: Organisation, user: User, role: str, via: str, actor: User | None
) -> Membership:
    """Seat ``user`` (inside the caller's transaction, with the organisation locked)."""
    seats = selectors.seats_of(organisation=organisation)
    if seats.limit is not None and seats.members >= seats.limit:
        raise _seat_refusal(seats, when="joining")
    membership = Membership.objects.create(
        organisation=organisation, user=user, role=role, joined_via=via
    )
    audit_record(
        organisation_id=organisation.pk,
        actor=actor or user,
        action=AuditAction.JOINED,
        subject=user.email,
        details={"role": role, "via": via},
    )
    return membership


@transaction.atomic
def invitation_accept(*, user: User, token: str) -> Membership:
    """Join through an invitation: its address must be ``user``'s, it must be open and
    unexpired, and a seat must be free. Single use: an accepted link is spent. A link that is
    unknown, spent, expired, revoked or meant for someone else is the same 404."""
    invitation = (
        selectors.invitations_addressed(user=user, token=token)
        .select_for_update()
        .select_related("organisation", "organisation__owner")
        .first()
    )
    if invitation is None:
        raise NotFound("This invitation is unknown, used, expired or not addressed to you.")
    organisation = invitation.organisation
    Organisation.objects.select_for_update().filter(pk=organisation.pk).first()
    if organisation.memberships.filter(user=user).exists():
        raise Conflict("You are already a member of this organisation.")
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    # The invitation's own seat is freed as it is spent, then taken by the new member.
    return _membership_add(
        organisation=organisation, user=user, role=invitation.role, via="invitation", actor=user
    )


# --- members -------------------------------------------------------------------------------------


def _target(organisation: Organisation, user_id: Any) -> Membership:
    pk = owned_id(user_id, name="member")
    target = organisation.memberships.select_related("user").filter(user_id=pk).first()
    if target is None:
        raise NotFound("No member with this id.")
    return target


@transaction.atomic
def member_remove(*, user: User, organisation_id: Any, member_id: Any) -> None:
    """Remove a member, freeing their seat; they keep their own memories and lose the team's.
    Admins remove members; the owner removes anyone but themself."""
    membership = selectors.membership_allowed(
        user=user, organisation_id=organisation_id, action="remove"
    )
    target = _target(membership.organisation, member_id)
    if target.role == Role.OWNER:
        raise Conflict("The owner cannot be removed: delete the organisation instead.")
    if membership.role == Role.ADMIN and target.role != Role.MEMBER:
        raise PermissionDenied(
            "Admins remove members; only the owner removes an admin.",
            details={"role": membership.role, "allowed_roles": ["owner"]},
        )
    target.delete()
    audit_record(
        organisation_id=membership.organisation_id,
        actor=user,
        action=AuditAction.REMOVED,
        subject=target.user.email,
    )


@transaction.atomic
def member_leave(*, user: User, organisation_id: Any) -> None:
    """Leave, freeing the seat: one's own memories stay, the team's are out of reach."""
    membership = selectors.membership_of(user=user, organisation_id=organisation_id)
    if membership.role == Role.OWNER:
        raise Conflict("The owner cannot leave: delete the organisation instead.")
    membership.delete()
    audit_record(
        organisation_id=membership.organisation_id,
        actor=user,
        action=AuditAction.LEFT,
        subject=user.email,
    )


@transaction.atomic
def member_role_change(
    *, user: User, organisation_id: Any, member_id: Any, role: str
) -> Membership:
    """The owner makes a member an admin or an admin a member (ownership does not move)."""
    membership = selectors.membership_allowed(
        user=user, organisation_id=organisation_id, action="change_role"
    )
    target = _target(membership.organisation, member_id)
    if role == Role.OWNER or target.role == Role.OWNER:
        raise Conflict("Ownership does not move by a role change.", details={"role": [role]})
    before = target.role
    if before != role:
        target.role = role
        target.save(update_fields=["role"])
        audit_record(
            organisation_id=membership.organisation_id,
            actor=user,
            action=AuditAction.ROLE_CHANGED,
            subject=target.user.email,
            details={"from": before, "to": role},
        )
    return target


def membership_preferences_set(
    *, user: User, organisation_id: Any, include_in_search: bool
) -> Membership:
    membership = selectors.membership_of(user=user, organisation_id=organisation_id)
    membership.include_in_search = include_in_search
    membership.save(update_fields=["include_in_search"])
    return membership


# --- SSO -----------------------------------------------------------------------------------------


def _sso_context(organisation_id: Any) -> str:
    return f"teams.sso:{organisation_id}"


def _sso_membership(*, user: User, organisation_id: Any) -> Membership:
    """``user``'s membership, to set up the organisation's sign-in (its provider, its domains):
    a role that may, on a plan that includes SSO (billing/tiers.py)."""
    membership = selectors.membership_allowed(
        user=user, organisation_id=organisation_id, action="sso"
    )
    if not allowance(user, "sso").allowed:
        raise QuotaExceeded(
            "Your plan does not include SSO; the team plan does.", details={"feature": "sso"}
        )
    return membership


@transaction.atomic
def sso_configure(
    *,
    user: User,
    organisation_id: Any,
    issuer: str,
    client_id: str,
    client_secret: str | None,
    required: bool,
) -> TeamSso:
    """Set the organisation's OIDC issuer and client; the secret is encrypted at rest and never
    answered (omit it to keep the stored one). Requiring SSO needs a verified domain."""
    membership = _sso_membership(user=user, organisation_id=organisation_id)
    organisation = membership.organisation
    sso = TeamSso.objects.filter(organisation=organisation).first()
    if client_secret is None and sso is None:
        raise ValidationFailed(details={"client_secret": ["Required the first time."]})
    if required and not organisation.domains.filter(verified_at__isnull=False).exists():
        raise ValidationFailed(
            "Verify a domain before requiring SSO: nobody's sign-in would be covered.",
            details={"required": ["Needs a verified domain."]},
        )
    if refusal := issuer_refusal(issuer):
        raise ValidationFailed(
            "This issuer is not allowed.",
            details={"issuer": [f"{refusal} Use your provider's address on the internet or LAN."]},
        )
    sso = sso or TeamSso(organisation=organisation)
    sso.issuer, sso.client_id, sso.required = issuer, client_id, required
    if client_secret is not None:
        sso.client_secret_ciphertext = crypto.encrypt(
            client_secret, context=_sso_context(organisation.pk)
        )
    sso.save()
    audit_record(
        organisation_id=organisation.pk,
        actor=user,
        action=AuditAction.SSO_CHANGED,
        subject=issuer,
        details={
            "client_id": client_id,
            "required": required,
            "secret_changed": client_secret is not None,
        },
    )
    return sso


def issuer_refusal(issuer: str) -> str | None:
    """Why this server may not fetch a team's issuer (an address on its own network: loopback,
    link-local, metadata; a team owner chose it), else None. TEAMS_SSO_ALLOW_LOCAL_ISSUERS lifts
    it for a provider run on the server itself."""
    return None if settings.TEAMS_SSO_ALLOW_LOCAL_ISSUERS else url_refusal(issuer)


def sso_client_secret(sso: TeamSso) -> str:
    """The decrypted client secret, for the sign-in flow only."""
    return crypto.decrypt(sso.client_secret_ciphertext, context=_sso_context(sso.organisation_id))


@transaction.atomic
def sso_remove(*, user: User, organisation_id: Any) -> None:
    membership = selectors.membership_allowed(
        user=user, organisation_id=organisation_id, action="sso"
    )
    if not TeamSso.objects.filter(organisation=membership.organisation).delete()[0]:
        raise NotFound("This organisation has no SSO settings.")
    audit_record(
        organisation_id=membership.organisation_id,
        actor=user,
        action=AuditAction.SSO_CHANGED,
        subject="removed",
    )


def domain_add(*, user: User, organisation_id: Any, domain: str) -> TeamDomain:
    """Claim ``domain``; it counts once a DNS TXT record ``engram-verification=<token>`` on it
    is seen (``domain_verify``)."""
    membership = _sso_membership(user=user, organisation_id=organisation_id)
    domain = domain.strip().lower().rstrip(".")
    if "." not in domain or "@" in domain or " " in domain:
        raise ValidationFailed(details={"domain": ["Give a domain name such as example.com."]})
    try:
        with transaction.atomic():
            found = TeamDomain.objects.create(
                organisation=membership.organisation,
                domain=domain,
                verification_token=secrets.token_hex(16),
            )
    except IntegrityError:
        raise Conflict(f"{domain} is already claimed.", details={"domain": [domain]}) from None
    audit_record(
        organisation_id=membership.organisation_id,
        actor=user,
        action=AuditAction.DOMAIN_CHANGED,
        subject=domain,
        details={"event": "claimed"},
    )
    return found


def domain_txt_records(domain: str) -> list[str]:
    """The TXT records of ``domain``, through the resolver TEAMS_DNS_RESOLVER names (a function
    of the domain answering its strings): the process boundary tests point at a stub."""
    return list(import_string(settings.TEAMS_DNS_RESOLVER)(domain))


def domain_verify(*, user: User, organisation_id: Any, domain_id: Any) -> TeamDomain:
    """Verify the domain by its TXT record; 409 when the record is not there (yet) or another
    organisation verified the domain first."""
    membership = selectors.membership_allowed(
        user=user, organisation_id=organisation_id, action="sso"
    )
    pk = owned_id(domain_id, name="domain")
    found = membership.organisation.domains.filter(pk=pk).first()
    if found is None:
        raise NotFound("No domain with this id.")
    if found.verified_at:
        return found
    expected = TXT_PREFIX + found.verification_token
    try:
        records = domain_txt_records(found.domain)
    except Exception as exc:  # a resolver failing is a missing record, said plainly
        logger.info("TXT lookup of %s failed: %s", found.domain, type(exc).__name__)
        records = []
    if expected not in records:
        raise Conflict(
            f"No TXT record {expected!r} on {found.domain} yet.",
            details={"txt_record": expected},
        )
    found.verified_at = timezone.now()
    try:
        with transaction.atomic():
            found.save(update_fields=["verified_at"])
    except IntegrityError:
        raise Conflict(f"{found.domain} is verified by another organisation.") from None
    audit_record(
        organisation_id=membership.organisation_id,
        actor=user,
        action=AuditAction.DOMAIN_CHANGED,
        subject=found.domain,
        details={"event": "verified"},
    )
    return found


@transaction.atomic
def sso_member_join(*, user: User) -> Membership | None:
    """Just-in-time membership after ``user`` signed in through their domain's team SSO: they
    join as a member (a seat is needed like any joining). Already a member: that membership."""
    found = selectors.sso_domain_of(user.email)
    if found is None or not hasattr(found.organisation, "sso"):
        return None
    organisation = found.organisation
    Organisation.objects.select_for_update().filter(pk=organisation.pk).first()
    existing = organisation.memberships.filter(user=user).first()
    if existing:
        return existing
    return _membership_add(
        organisation=organisation, user=user, role=Role.MEMBER, via="sso", actor=user
    )


def password_sign_in_check(*, email: str) -> None:
    """Refuse password sign-in (403 SSO_REQUIRED) for an address whose domain's team requires
    SSO (accounts calls it through ACCOUNTS_SIGN_IN_CHECKS)."""
    found = selectors.sso_domain_of(email)
    sso = getattr(found.organisation, "sso", None) if found else None
    if sso and sso.required:
        # The provider to sign in through instead: what a client posts to allauth's redirect.
        raise PermissionDenied(
            "Your organisation requires single sign-on: sign in through your company's provider.",
            code=ErrorCode.SSO_REQUIRED,
            details={"domain": found.domain, "provider": sso.provider_id},
        )


def system_dns_txt(domain: str) -> list[str]:
    """TXT records from the system's resolver (dnspython): the production TEAMS_DNS_RESOLVER."""
    answer = dns.resolver.resolve(domain, "TXT", lifetime=5)
    return [b"".join(record.strings).decode(errors="replace") for record in answer]
