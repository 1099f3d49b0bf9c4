"""The operators' view of accounts: users with their tier, keys as metadata only, and how each
signs in (password, linked providers, second factor, last sign-in) without any secret."""

from allauth.account.admin import EmailAddressAdmin as AllauthEmailAddressAdmin
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.socialaccount.models import SocialAccount, SocialApp, SocialToken
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest

from accounts.models import PREFERENCE_FIELDS, ApiKey, Persona, ProviderKey, User
from accounts.social import provider_name
from billing.admin import BillingInline
from billing.tiers import Tier
from core.admin_mixins import shortened


def _set_tier_action(tier: Tier):
    def action(modeladmin, request: HttpRequest, queryset: QuerySet[User]) -> None:
        changed = queryset.update(tier=tier)
        modeladmin.message_user(request, f"{changed} user(s) moved to {tier.label}.")

    action.__name__ = f"set_tier_{tier.value}"
    return admin.action(description=f"Change tier to {tier.label}")(action)


@admin.action(description="Deactivate selected users")
def deactivate(modeladmin, request: HttpRequest, queryset: QuerySet[User]) -> None:
    changed = queryset.filter(is_active=True).exclude(pk=request.user.pk).update(is_active=False)
    modeladmin.message_user(request, f"{changed} user(s) deactivated.", messages.SUCCESS)


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    fields = ("name", "prefix", "scopes", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    extra = 0
    can_delete = False


class ProviderKeyInline(admin.TabularInline):
    model = ProviderKey
    fields = ("provider", "last_four", "base_url", "updated_at", "last_used_at")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ("-date_joined",)
    list_display = (
        shortened("email", length=28),
        "display_name",
        "tier",
        "is_active",
        "date_joined",
        "last_login",
        "api_key_count",
    )
    list_filter = ("tier", "is_active", "is_staff")
    search_fields = ("email", "display_name")
    actions = [deactivate, *(_set_tier_action(tier) for tier in Tier)]
    inlines = [ApiKeyInline, ProviderKeyInline, BillingInline]
    fieldsets = (
        (None, {"fields": ("email", "password", "display_name", "tier", "seats")}),
        ("Preferences", {"fields": PREFERENCE_FIELDS}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        ("Sign-in", {"fields": ("sign_in_methods", "second_factor", "last_login")}),
        ("Dates", {"fields": ("date_joined",)}),
    )
    add_fieldsets = ((None, {"fields": ("email", "password1", "password2", "tier")}),)
    readonly_fields = ("last_login", "date_joined", "sign_in_methods", "second_factor")

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        active_keys = Count("api_keys", filter=Q(api_keys__revoked_at__isnull=True))
        return super().get_queryset(request).annotate(active_api_keys=active_keys)

    @admin.display(description="API keys", ordering="active_api_keys")
    def api_key_count(self, user: User) -> int:
        return user.active_api_keys

    @admin.display(description="Sign-in methods")
    def sign_in_methods(self, user: User) -> str:
        methods = ["password"] if user.has_usable_password() else []
        methods += [
            f"{provider_name(account)} (linked {account.date_joined:%Y-%m-%d})"
            for account in SocialAccount.objects.filter(user=user).order_by("date_joined")
        ]
        return ", ".join(methods) or "none"

    @admin.display(description="Second factor")
    def second_factor(self, user: User) -> str:
        """Which factors are on and when they were last used; never their secrets."""
        factors = [
            f"{factor.get_type_display()} (since {factor.created_at:%Y-%m-%d}"
            + (f", last used {factor.last_used_at:%Y-%m-%d %H:%M})" if factor.last_used_at else ")")
            for factor in Authenticator.objects.filter(user=user).order_by("created_at")
        ]
        return ", ".join(factors) or "off"


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "prefix",
        shortened("user", length=20),
        "scopes",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    ordering = ("-created_at",)
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix", "user__email")
    list_select_related = ("user",)
    exclude = ("key_hash",)
    readonly_fields = ("user", "name", "prefix", "scopes", "created_at", "last_used_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(ProviderKey)
class ProviderKeyAdmin(admin.ModelAdmin):
    list_display = (
        shortened("user", length=20),
        "provider",
        "last_four",
        shortened("base_url", length=28),
        "updated_at",
        "last_used_at",
    )
    ordering = ("-created_at",)
    list_filter = ("provider",)
    search_fields = ("user__email",)
    list_select_related = ("user",)
    exclude = ("ciphertext",)
    readonly_fields = ("user", "provider", "last_four", "base_url", "last_used_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Persona)
class PersonaAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        shortened("user", length=20),
        shortened("default_model", length=24),
        "temperature",
        "updated_at",
    )
    search_fields = ("name", "user__email")
    list_select_related = ("user",)
    ordering = ("-created_at",)


# allauth's list of addresses, with our columns: an address and its owner on one line each, the
# whole value on hover (the console's lists fit 1400 px).
admin.site.unregister(EmailAddress)


@admin.register(EmailAddress)
class EmailAddressAdmin(AllauthEmailAddressAdmin):
    list_display = (
        shortened("email", length=32),
        shortened("user", length=20),
        "primary",
        "verified",
    )


# Google, GitHub and OIDC providers are configured in settings only (config/settings.py): no
# client secret, and no provider token, is kept in the database.
admin.site.unregister(SocialApp)
admin.site.unregister(SocialToken)
admin.site.unregister(SocialAccount)
admin.site.unregister(Authenticator)


@admin.register(SocialAccount)
class LinkedAccountAdmin(admin.ModelAdmin):
    """Which provider accounts are linked to whom; what the provider said of them stays out."""

    list_display = (
        shortened("user", length=20),
        "provider",
        shortened("uid", length=16),
        "date_joined",
        "last_login",
    )
    list_filter = ("provider",)
    search_fields = ("user__email", "uid")
    list_select_related = ("user",)
    ordering = ("-date_joined",)
    fields = ("user", "provider", "uid", "date_joined", "last_login")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Authenticator)
class SecondFactorAdmin(admin.ModelAdmin):
    """A user's second factors: their kind and use, never their (encrypted) secrets."""

    list_display = (shortened("user", length=20), "type", "created_at", "last_used_at")
    list_filter = ("type",)
    search_fields = ("user__email",)
    list_select_related = ("user",)
    ordering = ("-created_at",)
    fields = ("user", "type", "created_at", "last_used_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
