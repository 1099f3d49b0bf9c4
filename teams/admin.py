"""The console's view of organisations: members, invitations, seats against the subscription,
SSO settings (never the secret) and the audit log (read-only, append-only)."""

from django.contrib import admin

from core.admin_mixins import ListedByIdMixin, ReadOnlyMixin, shortened
from teams import selectors
from teams.models import AuditEvent, Invitation, Membership, Organisation, TeamDomain, TeamSso


class MembershipInline(admin.TabularInline):
    model = Membership
    fields = ("user", "role", "joined_via", "joined_at")
    readonly_fields = ("user", "joined_via", "joined_at")
    extra = 0
    can_delete = False


@admin.register(Organisation)
class OrganisationAdmin(ListedByIdMixin, admin.ModelAdmin):
    ordering = ("-created_at",)
    list_display = (
        shortened("id"),
        "name",
        shortened("owner.email", length=24, description="owner"),
        "seats",
        "created_at",
    )
    search_fields = ("name", "owner__email")
    readonly_fields = ("id", "owner", "space", "created_at", "seats")
    fields = ("id", "name", "owner", "space", "members_write", "seats", "created_at")
    inlines = [MembershipInline]
    list_select_related = ("owner",)

    @admin.display(description="members / seats")
    def seats(self, obj: Organisation) -> str:
        seats = selectors.seats_of(organisation=obj)
        limit = "unlimited" if seats.limit is None else seats.limit
        return f"{seats.members} / {limit}" + (" (over)" if seats.over_limit else "")


@admin.register(Membership)
class MembershipAdmin(ListedByIdMixin, ReadOnlyMixin, admin.ModelAdmin):
    ordering = ("-joined_at",)
    list_display = (
        shortened("organisation.name", length=24, description="organisation"),
        shortened("user.email", length=24, description="user"),
        "role",
        "joined_via",
        "joined_at",
    )
    list_filter = ("role", "joined_via")
    list_select_related = ("organisation", "user")


@admin.register(Invitation)
class InvitationAdmin(ListedByIdMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        shortened("organisation.name", length=24, description="organisation"),
        shortened("email", length=24),
        "role",
        "expires_at",
        "accepted_at",
        "revoked_at",
    )
    exclude = ("token_hash",)
    list_select_related = ("organisation",)


@admin.register(TeamSso)
class TeamSsoAdmin(ReadOnlyMixin, admin.ModelAdmin):
    ordering = ("-updated_at",)
    list_display = (
        shortened("organisation.name", length=24, description="organisation"),
        shortened("issuer", length=32),
        shortened("client_id", length=16),
        "required",
        "updated_at",
    )
    exclude = ("client_secret_ciphertext",)  # never shown, not even encrypted


@admin.register(TeamDomain)
class TeamDomainAdmin(ReadOnlyMixin, admin.ModelAdmin):
    ordering = ("-created_at",)
    list_display = (
        shortened("organisation.name", length=24, description="organisation"),
        shortened("domain", length=24),
        "verified_at",
    )


@admin.register(AuditEvent)
class AuditEventAdmin(ListedByIdMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "created_at",
        shortened("organisation.name", length=24, description="organisation"),
        shortened("actor_email", length=24, description="actor"),
        "action",
        shortened("subject", length=24),
    )
    list_filter = ("action",)
    list_select_related = ("organisation",)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # append-only
