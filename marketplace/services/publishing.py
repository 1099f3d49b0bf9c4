"""Publishers, submissions and their review.

A submission is checked before anything is stored (manifest schema, the allowed permissions,
the package's size, its archive and the manifest inside it); what the checks found is kept on
the version for the reviewer. Only a staff member who does not publish the plugin may approve
or reject it; every decision is recorded.
"""

import logging
from typing import IO, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from backups.blobstore import BlobMissing
from billing.services import billing_required, return_url, stripe_call
from core.errors import Conflict, NotFound, PayloadTooLarge, PermissionDenied, ValidationFailed
from core.parsers import JSONInputError, json_loads
from marketplace import packages
from marketplace.manifest import (
    archive_report,
    manifest_errors,
    namespace_reserved,
    version_is_newer,
    version_key,
)
from marketplace.models import (
    Plugin,
    PluginVersion,
    Publisher,
    ReviewDecision,
    VersionStatus,
)
from providers.payments import stripe_api as stripe

logger = logging.getLogger(__name__)


# --- publishers ----------------------------------------------------------------------------------


def publisher_create(*, user: User, namespace: str) -> Publisher:
    """Make ``user`` a publisher under ``namespace`` (unique, already validated; not one of
    the reserved ones)."""
    if Publisher.objects.filter(user=user).exists():
        raise Conflict("You are a publisher already.")
    if namespace_reserved(namespace):
        raise Conflict(
            "That namespace is reserved.", details={"namespace": ["Reserved: choose another."]}
        )
    try:
        with transaction.atomic():
            return Publisher.objects.create(user=user, namespace=namespace)
    except IntegrityError:
        raise Conflict(
            "That namespace is taken.", details={"namespace": ["Already taken."]}
        ) from None


def publisher_of(user: User) -> Publisher:
    publisher = Publisher.objects.filter(user=user).first()
    if publisher is None:
        raise NotFound("You are not a publisher: POST /api/v1/marketplace/publisher first.")
    return publisher


def publisher_onboarding_start(*, user: User, site_url: str) -> str:
    """A Stripe Connect (Express) onboarding URL for the user's publisher account; the account
    is created on the first call. Stripe sends them back to ``site_url`` unless the
    MARKETPLACE_ONBOARDING_*_URL settings say otherwise."""
    billing_required()
    publisher = publisher_of(user)
    if not publisher.stripe_account_id:
        account = stripe_call(
            stripe.connect_account_create,
            email=user.email,
            metadata={"engram_publisher": str(publisher.pk), "namespace": publisher.namespace},
        )
        Publisher.objects.filter(pk=publisher.pk, stripe_account_id="").update(
            stripe_account_id=account["id"]
        )
        publisher.refresh_from_db()
    link = stripe_call(
        stripe.account_link_create,
        account_id=publisher.stripe_account_id,
        refresh_url=return_url(
            settings.MARKETPLACE_ONBOARDING_REFRESH_URL,
            site_url=site_url,
            path="/?marketplace=onboarding",
        ),
        return_url=return_url(
            settings.MARKETPLACE_ONBOARDING_RETURN_URL,
            site_url=site_url,
            path="/?marketplace=onboarded",
        ),
    )
    return link["url"]


def publisher_onboarding_refresh(*, user: User) -> Publisher:
    """The publisher with whether Stripe lets their account take charges and receive payouts,
    as Stripe says now."""
    publisher = publisher_of(user)
    if publisher.stripe_account_id and settings.BILLING_ENABLED:
        account = stripe_call(stripe.account_retrieve, account_id=publisher.stripe_account_id)
        publisher.charges_enabled = bool(account.get("charges_enabled"))
        publisher.payouts_enabled = bool(account.get("payouts_enabled"))
        publisher.save(update_fields=["charges_enabled", "payouts_enabled"])
    return publisher


# --- submissions ---------------------------------------------------------------------------------


def _manifest_from(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str | bytes):
        try:
            raw = json_loads(raw)
        except JSONInputError as exc:
            raise ValidationFailed(details={"manifest": [str(exc)]}) from None
    errors = manifest_errors(raw)
    if errors:
        raise ValidationFailed("The manifest is not valid.", details=errors)
    return raw


def _package_checks(manifest: dict[str, Any], package: IO[bytes], size: int) -> list[dict]:
    limit = settings.MARKETPLACE_PACKAGE_MAX_BYTES
    if size > limit:
        raise PayloadTooLarge(
            f"The package is {size} bytes, over the limit of {limit}.",
            details={"package": [f"At most {limit} bytes."], "limit_bytes": limit},
        )
    report = archive_report(
        package, manifest=manifest, max_bytes=settings.MARKETPLACE_PACKAGE_MAX_UNPACKED_BYTES
    )
    if report.errors:
        raise ValidationFailed("The package does not pass the checks.", details=report.errors)
    return [
        {"check": "manifest_schema", "passed": True, "detail": ""},
        {"check": "permissions", "passed": True, "detail": ", ".join(manifest["permissions"])},
        {"check": "package_size", "passed": True, "detail": f"{size} bytes"},
        *report.checks,
    ]


def plugin_submit(*, user: User, manifest: Any, package: IO[bytes], size: int) -> PluginVersion:
    """Submit a version of a plugin for review (a new plugin, or a version greater than every
    version submitted before). Answers the version, ``pending_review``; nothing is stored when
    a check fails (400 with field errors)."""
    publisher = Publisher.objects.filter(user=user).first()
    if publisher is None:
        raise PermissionDenied("Become a publisher first: POST /api/v1/marketplace/publisher.")
    manifest = _manifest_from(manifest)
    namespace = manifest["id"].split(".", 1)[0]
    if namespace != publisher.namespace:
        raise PermissionDenied(
            f"You publish under '{publisher.namespace}', not '{namespace}'.",
            details={"manifest.id": [f"Use the namespace '{publisher.namespace}'."]},
        )
    checks = _package_checks(manifest, package, size)
    sha256 = packages.file_sha256(package)
    key = packages.package_key(plugin_slug=manifest["id"], version=manifest["version"])
    _version_check(manifest)
    packages.package_store(key=key, upload=package)
    checks.append({"check": "sha256", "passed": True, "detail": sha256})
    try:
        return _version_create(publisher, manifest, key, sha256, size, checks)
    except BaseException:
        packages.package_delete(key=key)
        raise


def _version_create(
    publisher: Publisher, manifest: dict[str, Any], key: str, sha256: str, size: int, checks: list
) -> PluginVersion:
    try:
        with transaction.atomic():
            plugin, _ = Plugin.objects.select_for_update().get_or_create(
                slug=manifest["id"], defaults={"publisher": publisher}
            )
            _version_check(manifest, plugin)
            return PluginVersion.objects.create(
                plugin=plugin,
                version=manifest["version"],
                manifest=manifest,
                permissions=manifest["permissions"],
                package_key=key,
                package_sha256=sha256,
                package_bytes=size,
                checks=checks,
            )
    except IntegrityError:
        raise Conflict(
            "This version was submitted at the same time by another request.",
            details={"manifest.version": ["Submitted already."]},
        ) from None


def _version_check(manifest: dict[str, Any], plugin: Plugin | None = None) -> None:
    """Refuse a version that is not greater than every version submitted before (rejected
    ones included: a version number names one package forever)."""
    plugin = plugin or Plugin.objects.filter(slug=manifest["id"]).first()
    if plugin is None:
        return
    submitted = list(plugin.versions.values_list("version", flat=True))
    last = max(submitted, key=version_key, default=None)
    if not version_is_newer(manifest["version"], last):
        raise ValidationFailed(
            "The version must be greater than the last one submitted.",
            details={"manifest.version": [f"Must be greater than {last}."]},
        )


# --- review --------------------------------------------------------------------------------------


def version_review(
    *, reviewer: User, version_id: Any, decision: str, notes: str = ""
) -> PluginVersion:
    """Approve or reject a pending version (staff only, never one's own plugin). Approving
    re-checks the stored package's sha256 and lists the version when it is the newest."""
    if not reviewer.is_staff:
        raise NotFound()
    if decision not in (VersionStatus.APPROVED, VersionStatus.REJECTED):
        raise ValidationFailed(details={"decision": ["approved or rejected."]})
    if decision == VersionStatus.REJECTED and not notes.strip():
        raise ValidationFailed(details={"notes": ["Say why the version is rejected."]})
    with transaction.atomic():
        version = (
            PluginVersion.objects.select_for_update(of=("self",))
            .select_related("plugin__publisher")
            .filter(pk=version_id)
            .first()
        )
        if version is None:
            raise NotFound()
        if version.plugin.publisher.user_id == reviewer.pk:
            raise PermissionDenied("You cannot review your own plugin.")
        if version.status != VersionStatus.PENDING_REVIEW:
            raise Conflict(f"This version was {version.status} already.")
        if decision == VersionStatus.APPROVED:
            _stored_package_check(version)
        now = timezone.now()
        version.status, version.review_notes = decision, notes
        version.reviewed_by, version.reviewed_at = reviewer, now
        version.save(update_fields=["status", "review_notes", "reviewed_by", "reviewed_at"])
        ReviewDecision.objects.create(
            version=version, reviewer=reviewer, decision=decision, notes=notes
        )
        if decision == VersionStatus.APPROVED:
            _listing_update(version, now)
    logger.info("Plugin version %s %s by %s", version, decision, reviewer.pk)
    return version


def _stored_package_check(version: PluginVersion) -> None:
    try:
        stored = packages.package_sha256(key=version.package_key)
    except BlobMissing:
        stored = None
    if stored != version.package_sha256:
        raise Conflict(
            "The stored package is missing or changed since it was submitted; reject it.",
            details={"package_sha256": [f"Expected {version.package_sha256}, found {stored}."]},
        )


def _listing_update(version: PluginVersion, now) -> None:
    plugin = Plugin.objects.select_for_update().get(pk=version.plugin_id)
    current = plugin.latest_version.version if plugin.latest_version_id else None
    if not version_is_newer(version.version, current):
        return
    manifest = version.manifest
    plugin.latest_version = version
    plugin.name, plugin.description = manifest["name"], manifest["description"]
    plugin.category, plugin.price_cents = manifest["category"], manifest["price_cents"]
    plugin.listed_at = plugin.listed_at or now
    plugin.save()
