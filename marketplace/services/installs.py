"""Installing, paying for, uninstalling and rating plugins.

A free plugin installs at once. A paid one is a Stripe PaymentIntent for its price; when the
publisher's Connect account takes charges it is a destination charge (the publisher's share
goes to them with the charge, the platform keeps ``application_fee_amount``), otherwise the
platform charges alone and the share waits for the monthly payout. The installation is granted
only when Stripe's ``payment_intent.succeeded`` webhook arrives; a refund revokes it.
"""

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Sum
from django.utils import timezone

from accounts.models import User
from billing.services import billing_required, stripe_call
from core.errors import Conflict, NotFound, PermissionDenied
from marketplace import packages
from marketplace.manifest import version_is_newer
from marketplace.models import Installation, InstallStatus, Plugin, Rating
from marketplace.services import revenue
from marketplace.services.common import install_allowed
from marketplace.shares import split_fee
from providers.payments import stripe_api as stripe

logger = logging.getLogger(__name__)
CURRENCY = "eur"
# The metadata key a plugin purchase's PaymentIntent carries: the installation it pays for.
INSTALLATION_KEY = "engram_installation"


@dataclass(frozen=True)
class InstallResult:
    installation: Installation
    download_url: str | None  # None until a paid installation's payment succeeded
    payment: dict[str, Any] | None  # the PaymentIntent to confirm, for a paid installation


def _listed(slug: str) -> Plugin:
    plugin = (
        Plugin.objects.select_related("latest_version", "publisher")
        .filter(slug=slug, latest_version__isnull=False)
        .first()
    )
    if plugin is None:
        raise NotFound("No such plugin.")
    return plugin


def _granted(installation: Installation) -> InstallResult:
    url = packages.download_url(
        key=installation.version.package_key,
        version_id=str(installation.version_id),
        user_id=str(installation.user_id),
    )
    return InstallResult(installation=installation, download_url=url, payment=None)


def plugin_install(*, user: User, slug: str) -> InstallResult:
    """Install the newest approved version of a listed plugin for ``user`` (tier permitting),
    or start its payment. Installing again answers a fresh download URL."""
    install_allowed(user)
    plugin = _listed(slug)
    needs = plugin.latest_version.manifest["min_engram_version"]
    if version_is_newer(needs, settings.ENGRAM_VERSION):
        raise Conflict(
            f"This plugin needs Engram {needs} or later; this server runs "
            f"{settings.ENGRAM_VERSION}.",
            details={"min_engram_version": [needs]},
        )
    if plugin.price_cents:
        billing_required()
    with transaction.atomic():
        installation, _ = Installation.objects.select_for_update().get_or_create(
            user=user,
            plugin=plugin,
            defaults={"version": plugin.latest_version, "status": InstallStatus.UNINSTALLED},
        )
        paid_for = (
            installation.amount_cents > 0 and installation.status == InstallStatus.UNINSTALLED
        )
        if installation.status == InstallStatus.ACTIVE or plugin.price_cents == 0 or paid_for:
            if installation.status != InstallStatus.ACTIVE:
                installation.status = InstallStatus.ACTIVE
                installation.installed_at = timezone.now()
                Plugin.objects.filter(pk=plugin.pk).update(install_count=F("install_count") + 1)
            installation.version = plugin.latest_version
            installation.save()
            return _granted(installation)
        # Under the installation's lock: two requests at once start one payment, not two.
        return _payment_start(plugin, installation)


def _payment_start(plugin: Plugin, installation: Installation) -> InstallResult:
    publisher = plugin.publisher
    if not publisher.stripe_account_id:
        raise Conflict("The publisher cannot take payments yet; try again later.")
    if installation.status == InstallStatus.PENDING_PAYMENT and installation.payment_intent_id:
        intent = stripe_call(
            stripe.payment_intent_retrieve, payment_intent_id=installation.payment_intent_id
        )
        if intent["amount"] == plugin.price_cents and intent["status"] != "canceled":
            return InstallResult(installation, None, _payment_body(intent))
    fee, _ = split_fee(plugin.price_cents)
    destination = publisher.stripe_account_id if publisher.charges_enabled else None
    intent = stripe_call(
        stripe.payment_intent_create,
        amount=plugin.price_cents,
        currency=CURRENCY,
        destination=destination,
        application_fee_amount=fee if destination else None,
        description=f"Engram plugin {plugin.slug}",
        metadata={INSTALLATION_KEY: str(installation.pk), "engram_plugin": plugin.slug},
    )
    Installation.objects.filter(pk=installation.pk).update(
        status=InstallStatus.PENDING_PAYMENT,
        version=plugin.latest_version,
        amount_cents=plugin.price_cents,
        payment_intent_id=intent["id"],
    )
    installation.refresh_from_db()
    return InstallResult(installation, None, _payment_body(intent))


def _payment_body(intent: dict[str, Any]) -> dict[str, Any]:
    return {
        "payment_intent": intent["id"],
        "client_secret": intent.get("client_secret") or "",
        "amount_cents": intent["amount"],
        "currency": intent["currency"],
    }


def plugin_uninstall(*, user: User, slug: str) -> None:
    with transaction.atomic():
        installation = (
            Installation.objects.select_for_update()
            .filter(user=user, plugin__slug=slug, status=InstallStatus.ACTIVE)
            .first()
        )
        if installation is None:
            raise NotFound("You have not installed this plugin.")
        installation.status = InstallStatus.UNINSTALLED
        installation.save(update_fields=["status", "updated_at"])
        Plugin.objects.filter(pk=installation.plugin_id).update(
            install_count=F("install_count") - 1
        )


# --- payments (Stripe's webhooks, through billing's stripe_event_received) -----------------------


def payment_succeeded(*, intent: dict[str, Any]) -> None:
    """Grant the installation a PaymentIntent paid for and record the sale; a repeated
    event changes nothing. An older PaymentIntent of the same installation (the buyer started
    twice) that is paid grants it too: money Stripe took is never ignored."""
    installation_id = (intent.get("metadata") or {}).get(INSTALLATION_KEY)
    with transaction.atomic():
        installation = (
            Installation.objects.select_for_update()
            .select_related("plugin")
            .filter(pk=installation_id)
            .first()
        )
        if installation is None:
            logger.warning("PaymentIntent %s pays for no installation we know", intent["id"])
            return
        if not revenue.sale_record(installation=installation, intent=intent):
            return
        if installation.status != InstallStatus.ACTIVE:
            installation.status = InstallStatus.ACTIVE
            installation.installed_at = timezone.now()
            Plugin.objects.filter(pk=installation.plugin_id).update(
                install_count=F("install_count") + 1
            )
        installation.payment_intent_id = intent["id"]
        installation.amount_cents = intent["amount"]
        installation.save()


def payment_refunded(*, refund: dict[str, Any]) -> None:
    """Revoke the installation whose payment a refund paid back, and record the refund (a
    negative entry). A refund of a payment that is no plugin sale changes nothing."""
    sale = revenue.sale_of(payment_intent_id=refund.get("payment_intent") or "")
    if sale is None:
        return
    with transaction.atomic():
        installation = Installation.objects.select_for_update().get(pk=sale.installation_id)
        if not revenue.refund_record(installation=installation, refund=refund, sale=sale):
            return
        if installation.status == InstallStatus.ACTIVE:
            Plugin.objects.filter(pk=installation.plugin_id).update(
                install_count=F("install_count") - 1
            )
        installation.status = InstallStatus.REVOKED
        installation.save(update_fields=["status", "updated_at"])


def installation_refund(*, installation_id: Any, amount_cents: int | None = None) -> dict[str, Any]:
    """Ask Stripe to refund a paid installation (``amount_cents`` of it, or all; the
    publisher's transfer and the platform's fee are reversed in proportion); the installation
    is revoked when Stripe's refund webhook arrives."""
    billing_required()
    installation = Installation.objects.filter(pk=installation_id).exclude(payment_intent_id="")
    installation = installation.first()
    if installation is None:
        raise NotFound("No such paid installation.")
    return stripe_call(
        stripe.refund_create,
        payment_intent_id=installation.payment_intent_id,
        amount=amount_cents,
    )


# --- ratings -------------------------------------------------------------------------------------


def rating_set(*, user: User, slug: str, stars: int, text: str = "") -> Rating:
    """Rate a plugin ``user`` installed (1..5, one rating per user, editable). The plugin's
    sum, count and average are recomputed under a lock on its row, so concurrent ratings
    leave them exact."""
    plugin = _listed(slug)
    installed = Installation.objects.filter(
        user=user, plugin=plugin, status__in=[InstallStatus.ACTIVE, InstallStatus.UNINSTALLED]
    ).exclude(installed_at=None)
    if not installed.exists():
        raise PermissionDenied("Only users who installed a plugin may rate it.")
    with transaction.atomic():
        locked = Plugin.objects.select_for_update().get(pk=plugin.pk)
        rating, _ = Rating.objects.update_or_create(
            user=user, plugin=locked, defaults={"stars": stars, "text": text}
        )
        _ratings_recount(locked)
    return rating


def _ratings_recount(locked: Plugin) -> None:
    """The sum, count and average of the ratings of ``locked`` (its row locked by the caller)."""
    totals = Rating.objects.filter(plugin=locked).aggregate(sum=Sum("stars"), count=Count("id"))
    locked.rating_sum, locked.rating_count = totals["sum"] or 0, totals["count"]
    locked.rating_average = locked.rating_sum / locked.rating_count if locked.rating_count else 0
    locked.save(update_fields=["rating_sum", "rating_count", "rating_average"])


# --- an account deleted --------------------------------------------------------------------------


@transaction.atomic
def marketplace_leave(*, user: User) -> None:
    """Take ``user`` out of the marketplace before their account is deleted: their ratings go
    (the plugins' averages recounted), their installations end (install counts follow), and an
    installation that was a sale stays on the publisher's books without its buyer. A publisher
    of plugins is refused (409, ``details.plugins``): other people installed and paid for them,
    so an operator delists them first."""
    plugins = list(Plugin.objects.filter(publisher__user=user).values_list("slug", flat=True))
    if plugins:
        raise Conflict(
            f"You publish plugins in the marketplace ({', '.join(plugins)}): ask the operators "
            "to delist them before deleting your account.",
            details={"plugins": plugins},
        )
    rated = Rating.objects.filter(user=user).values_list("plugin_id", flat=True)
    for plugin in Plugin.objects.select_for_update().filter(pk__in=list(rated)).order_by("pk"):
        Rating.objects.filter(user=user, plugin=plugin).delete()
        _ratings_recount(plugin)
    installations = Installation.objects.select_for_update().filter(user=user)
    for installation in installations.filter(status=InstallStatus.ACTIVE):
        Plugin.objects.filter(pk=installation.plugin_id).update(
            install_count=F("install_count") - 1
        )
    installations.filter(status=InstallStatus.ACTIVE).update(status=InstallStatus.UNINSTALLED)
    installations.filter(ledger__isnull=False).update(user=None)
