"""The operators' marketplace: the review queue (versions filtered by status, approve and
reject actions that go through the same service as the staff API), publishers, installations
(with a refund action), the ledger with its totals per month, and payouts."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from core.admin_mixins import shortened
from core.errors import EngramError
from marketplace import selectors
from marketplace.models import (
    Installation,
    LedgerEntry,
    Payout,
    Plugin,
    PluginVersion,
    Publisher,
    ReviewDecision,
    VersionStatus,
)
from marketplace.services import installs, publishing


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


def _review(modeladmin, request: HttpRequest, queryset: QuerySet, decision: str) -> None:
    done = 0
    for version in queryset:
        try:
            publishing.version_review(
                reviewer=request.user,
                version_id=version.pk,
                decision=decision,
                notes=f"{decision} in the operator console",
            )
            done += 1
        except EngramError as exc:
            modeladmin.message_user(request, f"{version}: {exc.message}", messages.ERROR)
    modeladmin.message_user(request, f"{done} version(s) {decision}.", messages.SUCCESS)


@admin.action(description="Approve the selected versions")
def approve(modeladmin, request: HttpRequest, queryset: QuerySet) -> None:
    _review(modeladmin, request, queryset, VersionStatus.APPROVED)


@admin.action(description="Reject the selected versions")
def reject(modeladmin, request: HttpRequest, queryset: QuerySet) -> None:
    _review(modeladmin, request, queryset, VersionStatus.REJECTED)


class DecisionInline(admin.TabularInline):
    model = ReviewDecision
    fields = ("decision", "reviewer", "notes", "decided_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(PluginVersion)
class PluginVersionAdmin(_ReadOnly):
    list_display = (
        shortened("plugin", length=20),
        shortened("version", length=16),
        "status",
        "package_bytes",
        "created_at",
        shortened("reviewed_by", length=20),
    )
    list_filter = ("status",)
    search_fields = ("plugin__slug", "version")
    list_select_related = ("plugin", "reviewed_by")
    ordering = ("-created_at",)
    actions = [approve, reject]
    fields = (
        "plugin", "version", "status", "permissions", "checks", "manifest",
        "package_key", "package_sha256", "package_bytes", "review_notes", "reviewed_by",
        "reviewed_at", "created_at",
    )  # fmt: skip
    readonly_fields = fields
    inlines = [DecisionInline]


@admin.register(Plugin)
class PluginAdmin(_ReadOnly):
    list_display = (
        shortened("slug", length=24), shortened("publisher", length=16), "category",
        "price_cents", shortened("latest_version.version", description="latest version",
                                 length=16),
        "install_count", "rating_average", "rating_count", "listed_at",
    )  # fmt: skip
    list_filter = ("category", "versions__status")
    search_fields = ("slug", "name")
    list_select_related = ("publisher", "latest_version")


@admin.register(Publisher)
class PublisherAdmin(_ReadOnly):
    list_display = (
        shortened("namespace", length=20),
        shortened("user", length=20),
        shortened("stripe_account_id", length=12),
        "charges_enabled",
        "payouts_enabled",
    )
    search_fields = ("namespace", "user__email", "stripe_account_id")
    list_select_related = ("user",)


@admin.action(description="Refund the selected paid installations (Stripe)")
def refund(modeladmin, request: HttpRequest, queryset: QuerySet) -> None:
    for installation in queryset:
        try:
            installs.installation_refund(installation_id=installation.pk)
        except EngramError as exc:
            modeladmin.message_user(request, f"{installation}: {exc.message}", messages.ERROR)
    modeladmin.message_user(request, "Refunds asked; installations are revoked on Stripe's word.")


@admin.register(Installation)
class InstallationAdmin(_ReadOnly):
    list_display = (
        shortened("plugin", length=20),
        shortened("user", length=20),
        "status",
        "amount_cents",
        shortened("payment_intent_id", length=12),
        "installed_at",
    )
    list_filter = ("status",)
    search_fields = ("plugin__slug", "user__email", "payment_intent_id")
    list_select_related = ("plugin", "user")
    actions = [refund]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(_ReadOnly):
    list_display = (
        "occurred_at", shortened("period"), "kind", shortened("plugin", length=20),
        shortened("publisher", length=16), "gross_cents", "fee_cents", "publisher_cents",
        "settled", shortened("stripe_object_id", length=12),
    )  # fmt: skip
    list_filter = ("period", "kind", "settled")
    search_fields = ("plugin__slug", "publisher__namespace", "stripe_object_id")
    list_select_related = ("plugin", "publisher")
    ordering = ("-occurred_at",)
    change_list_template = "admin/marketplace/ledgerentry_change_list.html"

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        extra_context = {**(extra_context or {}), "ledger_by_month": selectors.ledger_by_month()}
        return super().changelist_view(request, extra_context=extra_context)


@admin.register(Payout)
class PayoutAdmin(_ReadOnly):
    list_display = (
        shortened("period"),
        shortened("publisher", length=16),
        "amount_cents",
        "status",
        shortened("transfer_id", length=12),
        "updated_at",
    )
    list_filter = ("status", "period")
    list_select_related = ("publisher",)
