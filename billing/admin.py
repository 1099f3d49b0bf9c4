"""The operators' view of billing: customers and subscriptions with the user's tier, MRR per
tier, a re-sync from Stripe, and a user's subscription and invoices on their page.

dj-stripe registers an admin for every Stripe object; its customer and subscription pages are
replaced here by ones that speak Engram's words (tier, seats, grace), and every other one is
read-only: Stripe owns those objects, they arrive by webhook and re-sync (the console leaves
them out altogether with billing off, operations/admin_site.py)."""

from django.apps import apps
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from djstripe.models import Customer, Subscription

from billing import selectors, services
from billing.entitlements import subscription_item, subscription_period_end, subscription_tier
from billing.models import DailyUsage
from core.admin_mixins import ReadOnlyMixin, shortened
from core.errors import EngramError

for model in (Customer, Subscription):
    if admin.site.is_registered(model):
        admin.site.unregister(model)

for model in apps.get_app_config("djstripe").get_models():
    if admin.site.is_registered(model):
        stripe_admin = type(admin.site.get_model_admin(model))
        admin.site.unregister(model)
        read_only = type(
            stripe_admin.__name__, (ReadOnlyMixin, stripe_admin), {"__module__": __name__}
        )
        admin.site.register(model, read_only)


@admin.action(description="Re-sync the selected customers from Stripe")
def resync(modeladmin, request: HttpRequest, queryset: QuerySet) -> None:
    customer_ids = {getattr(obj, "customer_id", None) or obj.id for obj in queryset}
    done = 0
    for customer_id in customer_ids:
        try:
            services.customer_refresh(customer_id=customer_id)
            done += 1
        except EngramError as exc:
            modeladmin.message_user(request, f"{customer_id}: {exc.message}", messages.ERROR)
    modeladmin.message_user(request, f"{done} customer(s) re-read from Stripe.", messages.SUCCESS)


class _ReadOnly(ReadOnlyMixin, admin.ModelAdmin):
    actions = [resync]


@admin.register(Customer)
class CustomerAdmin(_ReadOnly):
    list_display = ("id", "email", shortened("subscriber", length=20), "user_tier", "created")
    search_fields = ("id", "email", "subscriber__email")
    list_select_related = ("subscriber",)
    fields = ("id", "email", "subscriber", "user_tier", "created", "livemode")
    readonly_fields = fields

    @admin.display(description="Tier")
    def user_tier(self, customer: Customer) -> str:
        return customer.subscriber.tier if customer.subscriber else "—"


@admin.register(Subscription)
class SubscriptionAdmin(_ReadOnly):
    list_display = ("id", "customer", "tier", "status", "seats", "period_end", "cancelling")
    search_fields = ("id", "customer__id", "customer__email", "customer__subscriber__email")
    list_select_related = ("customer",)
    fields = ("id", "customer", "tier", "status", "seats", "period_end", "cancelling", "created")
    readonly_fields = fields
    change_list_template = "admin/billing/subscription_change_list.html"

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        extra_context = {**(extra_context or {}), "mrr_by_tier": selectors.mrr_by_tier()}
        return super().changelist_view(request, extra_context=extra_context)

    @admin.display(description="Tier")
    def tier(self, subscription: Subscription) -> str:
        return subscription_tier(subscription.stripe_data) or "—"

    @admin.display(description="Status")
    def status(self, subscription: Subscription) -> str:
        return subscription.stripe_data.get("status", "")

    @admin.display(description="Seats")
    def seats(self, subscription: Subscription) -> int:
        return int((subscription_item(subscription.stripe_data) or {}).get("quantity") or 1)

    @admin.display(description="Period end")
    def period_end(self, subscription: Subscription):
        return subscription_period_end(subscription.stripe_data)

    @admin.display(description="Cancels at period end", boolean=True)
    def cancelling(self, subscription: Subscription) -> bool:
        return bool(subscription.stripe_data.get("cancel_at_period_end"))


class BillingInline(admin.StackedInline):
    """On a user's page: their Stripe customer, subscription and invoices."""

    model = Customer
    fk_name = "subscriber"
    fields = ("id", "subscription", "invoices")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name = "Stripe customer"

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="Subscription")
    def subscription(self, customer: Customer) -> str:
        summary = selectors.subscription_summary(user=customer.subscriber)
        if summary["subscription_id"] is None:
            return "none"
        return (
            f"{summary['subscribed_tier']} x {summary['seats']}, {summary['status']}, "
            f"period ends {summary['current_period_end']:%Y-%m-%d}"
            + (" (cancels then)" if summary["cancel_at_period_end"] else "")
        )

    @admin.display(description="Invoices")
    def invoices(self, customer: Customer) -> str:
        rows = selectors.invoices_of(user=customer.subscriber)
        if not rows:
            return "none"
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li><a href='{}'>{}</a> {} {} {}</li>",
                (
                    (row["hosted_invoice_url"] or "#", row["number"] or row["id"],
                     f"{(row['total'] or 0) / 100:.2f}", (row["currency"] or "").upper(),
                     row["status"])
                    for row in rows
                ),
            ),
        )  # fmt: skip


@admin.register(DailyUsage)
class DailyUsageAdmin(_ReadOnly):
    """LLM usage per user per day, as chat recorded it (read-only)."""

    actions = []
    list_display = (
        "day",
        shortened("user", length=20),
        "requests",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
    )
    search_fields = ("user__email",)
    list_filter = ("day",)
    list_select_related = ("user",)
    date_hierarchy = "day"
    ordering = ("-day", "-cost_usd")
