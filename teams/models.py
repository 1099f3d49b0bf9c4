"""Organisations, the people in them, invitations, team SSO and the audit log.

An organisation's shared memory lives in its *space*: a user row of its own that can never sign
in (no usable password, inactive), which every per-user memory path (storage, search, indexes)
already handles. Members reach it through ``teams.selectors.readable_spaces``; docs/teams.md says
why a principal rather than a new scope column.
"""

import hashlib
import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"


# The address of an organisation's memory principal (a user row that never signs in).
SPACE_EMAIL_DOMAIN = "spaces.engram.invalid"
# The roles an invitation or a role change may give (ownership never moves that way).
INVITABLE_ROLES = [(Role.ADMIN.value, Role.ADMIN.label), (Role.MEMBER.value, Role.MEMBER.label)]


class Organisation(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=150)
    # The owner's team subscription pays for the seats (its quantity is the seat count).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="owned_organisations"
    )
    # The principal that owns the team's memories; deleted with the organisation.
    space = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_space"
    )
    # Whether plain members may write team memories (owners and admins always may).
    members_write = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.MEMBER)
    # The member's default: searches and chat recall include this team's memories.
    include_in_search = models.BooleanField(default=True)
    # How they came in: "created", "invitation" or "sso" (just-in-time).
    joined_via = models.CharField(max_length=16, default="invitation")
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "user"], name="one_membership"),
        ]
        ordering = ["joined_at", "id"]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.organisation_id} ({self.role})"


class Invitation(models.Model):
    """An emailed, expiring, single-use link; only the token's SHA-256 is stored."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField(max_length=254)
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.MEMBER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            # One open invitation per address and organisation.
            models.UniqueConstraint(
                "organisation",
                Lower("email"),
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="one_open_invitation",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} → {self.organisation_id}"


def invitation_token_hash(token: str) -> str:
    """What an invitation keeps of its link's token (the token itself is only in the mail)."""
    return hashlib.sha256(token.encode()).hexdigest()


# allauth's provider id of an organisation's SSO (teams/sso.py): team-<organisation id, hex>.
SSO_PROVIDER_PREFIX = "team-"


def sso_provider_id(organisation_id: Any) -> str:
    return f"{SSO_PROVIDER_PREFIX}{uuid.UUID(str(organisation_id)).hex}"


class TeamSso(models.Model):
    """The organisation's OpenID Connect issuer; the client secret is encrypted at rest
    (accounts.crypto) and never answered."""

    organisation = models.OneToOneField(
        Organisation, on_delete=models.CASCADE, primary_key=True, related_name="sso"
    )
    issuer = models.URLField(max_length=500)
    client_id = models.CharField(max_length=255)
    client_secret_ciphertext = models.TextField()
    # Password sign-in refused for addresses of the verified domains.
    required = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "team SSO"
        verbose_name_plural = "team SSO"

    def __str__(self) -> str:
        return self.issuer

    @property
    def provider_id(self) -> str:
        return sso_provider_id(self.organisation_id)


class TeamDomain(models.Model):
    """An email domain the organisation says it owns, verified by a DNS TXT record."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="domains")
    domain = models.CharField(max_length=253)
    verification_token = models.CharField(max_length=64)
    verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["domain"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "domain"], name="domain_once_per_org"),
            # A domain is verified for one organisation at most.
            models.UniqueConstraint(
                fields=["domain"],
                condition=models.Q(verified_at__isnull=False),
                name="domain_verified_once",
            ),
        ]

    def __str__(self) -> str:
        return self.domain


class AuditAction(models.TextChoices):
    CREATED = "created", "Organisation created"
    INVITED = "invited", "Invited"
    INVITATION_REVOKED = "invitation_revoked", "Invitation revoked"
    JOINED = "joined", "Joined"
    LEFT = "left", "Left"
    REMOVED = "removed", "Removed"
    ROLE_CHANGED = "role_changed", "Role changed"
    SSO_CHANGED = "sso_changed", "SSO changed"
    DOMAIN_CHANGED = "domain_changed", "Domain changed"
    MEMORY_READ = "memory_read", "Team memory read"
    MEMORY_WRITTEN = "memory_written", "Team memory written"


class AuditEvent(models.Model):
    """Append-only: written by ``teams.services.audit_record`` only, never changed."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="audit_events"
    )
    # Kept as plain values too: the log outlives the accounts it names.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    actor_email = models.EmailField(max_length=254, blank=True)
    action = models.CharField(max_length=24, choices=AuditAction.choices)
    subject = models.CharField(max_length=254, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organisation", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.action} {self.subject}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise ValueError("Audit events are append-only.")
        super().save(*args, **kwargs)
