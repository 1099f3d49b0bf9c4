"""What Engram knows about me (the summary, extracted facts and the conversations they came
from, extraction jobs still at work) and Plan and usage (tier, meters against the limits,
Checkout and the billing portal when billing is on, plugins)."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from billing import selectors as billing_selectors
from billing import services as billing_services
from billing.tiers import Tier
from core.errors import EngramError
from marketplace import selectors as marketplace_selectors
from memories import selectors as memory_selectors
from web.views.common import flash_error, page, post_only, render_page

FACTS_SHOWN = 25
PLUGINS_SHOWN = 12
# The meters of the plan page: (name in billing's usage, what a person calls it, bytes?).
METERS = [
    ("requests_today", "API requests today", False),
    ("requests", "Model requests this period", False),
    ("tokens", "Model tokens this period", False),
    ("memories", "Memories", False),
    ("memory_storage_bytes", "Memory storage", True),
    ("cloud_storage_bytes", "Encrypted storage", True),
    ("backup_bytes", "Backups", True),
]


@page("knows")
def knows(request: HttpRequest) -> HttpResponse:
    facts = memory_selectors.memory_page(
        user=request.user,
        filters=memory_selectors.MemoryFilters(source="extraction"),
        cursor=None,
        limit=FACTS_SHOWN,
    ).items
    context = {
        "summary": memory_selectors.memory_summary_get(user=request.user),
        "facts": facts,
        "jobs": memory_selectors.extraction_jobs_recent(user=request.user),
    }
    return render_page(request, "web/knows.html", context)


@page("plan")
def plan(request: HttpRequest) -> HttpResponse:
    usage = billing_selectors.usage_of(user=request.user)
    # A meter nothing counts (no daily limit to count requests against) is left out: "0" would
    # say nothing was used.
    meters = [
        {"label": label, "bytes": is_bytes, **usage[name]}
        for name, label, is_bytes in METERS
        if usage.get(name, {}).get("used") is not None
    ]
    context = {
        "usage": usage,
        "tier": Tier(usage["tier"]).label,
        "meters": meters,
        "billing": settings.BILLING_ENABLED,
        "subscription": billing_selectors.subscription_summary(user=request.user)
        if settings.BILLING_ENABLED
        else None,
        "plans": billing_selectors.plans(),
        "installed": marketplace_selectors.installed_of(user=request.user)[:PLUGINS_SHOWN],
        "catalog": marketplace_selectors.catalog(limit=PLUGINS_SHOWN).items,
    }
    return render_page(request, "web/plan.html", context)


@post_only
@page("plan")
def checkout(request: HttpRequest) -> HttpResponse:
    try:
        url = billing_services.checkout_start(
            user=request.user,
            tier=request.POST.get("tier", ""),
            site_url=request.build_absolute_uri("/"),
        )
    except EngramError as error:
        flash_error(request, error)
        return redirect("web:plan")
    return redirect(url)


@post_only
@page("plan")
def portal(request: HttpRequest) -> HttpResponse:
    try:
        url = billing_services.portal_start(
            user=request.user, site_url=request.build_absolute_uri("/")
        )
    except EngramError as error:
        flash_error(request, error)
        return redirect("web:plan")
    return redirect(url)
