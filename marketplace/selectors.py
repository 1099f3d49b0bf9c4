"""Marketplace reads: the catalog (full-text, filters, keyset pages in three orders), a
plugin's page, a user's installations, a publisher's submissions and earnings, the review
queue. Each costs a fixed number of queries."""

import re
import uuid
from dataclasses import dataclass
from typing import Any

from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db.models import Count, Prefetch, Q, QuerySet, Sum

from accounts.models import User
from core.errors import NotFound, ValidationFailed
from core.pagination import epoch_micros, from_epoch_micros
from marketplace.models import (
    Installation,
    InstallStatus,
    LedgerEntry,
    Payout,
    Plugin,
    PluginVersion,
    Publisher,
    VersionStatus,
)

# sort name -> the field the catalog orders by (descending, then id).
SORTS = {"rating": "rating_average", "installs": "install_count", "newest": "listed_at"}
# The sort, the last row's value in it (a time as microseconds since the epoch), and its id.
# Every text the pattern matches decodes.
CATALOG_CURSOR_PATTERN = (
    r"^(newest-[0-9]{1,17}|installs-[0-9]{1,10}|rating-[0-9]{1,3}\.[0-9]{1,17})-[0-9a-f]{32}$"
)


@dataclass(frozen=True)
class CatalogPage:
    items: list[Plugin]
    total: int
    next_cursor: str | None


def _listed() -> QuerySet[Plugin]:
    return Plugin.objects.filter(latest_version__isnull=False).select_related(
        "publisher", "latest_version"
    )


def _cursor_encode(sort: str, value: Any, pk: uuid.UUID) -> str:
    if sort == "newest":
        value = epoch_micros(value)
    elif sort == "rating":
        value = repr(float(value))  # an average from 0 to 5: never in exponent notation
    return f"{sort}-{value}-{pk.hex}"


def _cursor_decode(cursor: str, sort: str) -> tuple[Any, uuid.UUID]:
    # A cursor continues the order it came from: under another sort it is refused.
    if not re.fullmatch(CATALOG_CURSOR_PATTERN, cursor) or not cursor.startswith(f"{sort}-"):
        raise ValidationFailed(
            "The cursor is not valid.", details={"cursor": ["Malformed cursor, or another sort."]}
        )
    _, value, pk = cursor.split("-")
    if sort == "newest":
        return from_epoch_micros(int(value)), uuid.UUID(pk)
    return (float(value) if sort == "rating" else int(value)), uuid.UUID(pk)


def catalog(
    *, q: str = "", category: str = "", sort: str = "newest", cursor: str = "", limit: int = 20
) -> CatalogPage:
    """Listed plugins (an approved version) matching ``q`` (full text over name and
    description) and ``category``, ordered by ``sort`` descending; ``total`` counts every match."""
    plugins = _listed()
    if category:
        plugins = plugins.filter(category=category)
    if q:
        plugins = plugins.annotate(
            document=SearchVector("name", weight="A", config="english")
            + SearchVector("description", weight="B", config="english")
        ).filter(document=SearchQuery(q, search_type="websearch", config="english"))
    total = plugins.count()
    field = SORTS[sort]
    if cursor:
        value, pk = _cursor_decode(cursor, sort)
        plugins = plugins.filter(Q(**{f"{field}__lt": value}) | Q(**{field: value, "pk__lt": pk}))
    rows = list(plugins.order_by(f"-{field}", "-pk")[: limit + 1])
    items = rows[:limit]
    next_cursor = (
        _cursor_encode(sort, getattr(items[-1], field), items[-1].pk) if len(rows) > limit else None
    )
    return CatalogPage(items=items, total=total, next_cursor=next_cursor)


def plugin_detail(*, slug: str) -> Plugin:
    """A listed plugin with its approved versions (newest first); 404 otherwise."""
    approved = PluginVersion.objects.filter(status=VersionStatus.APPROVED).order_by("-created_at")
    plugin = (
        _listed()
        .prefetch_related(Prefetch("versions", queryset=approved, to_attr="approved_versions"))
        .filter(slug=slug)
        .first()
    )
    if plugin is None:
        raise NotFound("No such plugin.")
    return plugin


def installed_of(*, user: User) -> QuerySet[Installation]:
    return (
        Installation.objects.filter(user=user, status=InstallStatus.ACTIVE)
        .select_related("plugin__publisher", "plugin__latest_version", "version")
        .order_by("-installed_at")
    )


def installation_downloadable(*, version_id: str, user_id: str) -> Installation | None:
    """The active installation a download link names, or None (uninstalled, refunded)."""
    return (
        Installation.objects.select_related("version", "plugin")
        .filter(user_id=user_id, version_id=version_id, status=InstallStatus.ACTIVE)
        .first()
    )


def submissions_of(*, user: User) -> QuerySet[PluginVersion]:
    """Every version the user's publisher submitted, with its checks and review notes."""
    return PluginVersion.objects.filter(plugin__publisher__user=user).select_related("plugin")


def review_queue() -> QuerySet[PluginVersion]:
    """Versions waiting for review (the caller pages them oldest first)."""
    return PluginVersion.objects.filter(status=VersionStatus.PENDING_REVIEW).select_related(
        "plugin__publisher__user"
    )


def earnings(*, publisher: Publisher, period: str) -> dict[str, Any]:
    """The publisher's ledger for ``period`` (YYYY-MM): totals in cents, what settled with
    the charges, what the payout owes or paid, and the entries."""
    entries = LedgerEntry.objects.filter(publisher=publisher, period=period).select_related(
        "plugin"
    )
    totals = entries.aggregate(
        gross=Sum("gross_cents"),
        fee=Sum("fee_cents"),
        share=Sum("publisher_cents"),
        settled=Sum("publisher_cents", filter=Q(settled=True)),
        sales=Count("id", filter=Q(kind="sale")),
        refunds=Count("id", filter=Q(kind="refund")),
    )
    payout = Payout.objects.filter(publisher=publisher, period=period).first()
    share = totals["share"] or 0
    settled = totals["settled"] or 0
    return {
        "period": period,
        "currency": "eur",
        "gross_cents": totals["gross"] or 0,
        "platform_fee_cents": totals["fee"] or 0,
        "publisher_cents": share,
        "settled_cents": settled,
        "payout_cents": share - settled,
        "payout_status": payout.status if payout else None,
        "sales": totals["sales"],
        "refunds": totals["refunds"],
        "entries": list(entries.order_by("occurred_at")),
    }


def ledger_by_month(*, months: int = 12) -> list[dict[str, Any]]:
    """The ledger's totals per month, newest first (the operators' view)."""
    return list(
        LedgerEntry.objects.values("period")
        .annotate(
            sales=Count("id", filter=Q(kind="sale")),
            refunds=Count("id", filter=Q(kind="refund")),
            gross=Sum("gross_cents"),
            fee=Sum("fee_cents"),
            share=Sum("publisher_cents"),
            unsettled=Sum("publisher_cents", filter=Q(settled=False)),
        )
        .order_by("-period")[:months]
    )
