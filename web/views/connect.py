"""Connect your tools: API keys (the key shown once), snippets for the clients people use with
this server's own address filled in, and provider keys (stored encrypted by accounts)."""

import secrets
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from accounts import selectors as account_selectors
from accounts import services as accounts
from accounts.models import ApiScope
from core.errors import EngramError
from web.forms import ApiKeyForm, ProviderKeyForm
from web.views.common import flash_error, form_error, page, post_only, render_page

KEY_PLACEHOLDER = "egm_your_key"
# The key forms drawn for a session and not sent yet (its last few pages).
KEY_FORMS_SESSION = "web:key-forms"
KEY_FORMS_KEPT = 10


def _key_form(request: HttpRequest) -> ApiKeyForm:
    """A new key's form, marked as drawn for this session."""
    mark = secrets.token_urlsafe(16)
    request.session[KEY_FORMS_SESSION] = [*request.session.get(KEY_FORMS_SESSION, []), mark][
        -KEY_FORMS_KEPT:
    ]
    return ApiKeyForm(initial={"once": mark})


def _drawn(request: HttpRequest, mark: str) -> bool:
    return mark in request.session.get(KEY_FORMS_SESSION, [])


def _used(request: HttpRequest, mark: str) -> None:
    drawn = request.session.get(KEY_FORMS_SESSION, [])
    request.session[KEY_FORMS_SESSION] = [other for other in drawn if other != mark]


def _context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    base = request.build_absolute_uri("/").rstrip("/")
    return {
        "base": base,
        "key": extra.get("secret") or KEY_PLACEHOLDER,
        "api_keys": account_selectors.api_keys_of(request.user),
        "provider_keys": account_selectors.provider_keys_of(request.user),
        "scope_names": dict(ApiScope.choices),
        "key_form": extra.get("key_form") or _key_form(request),
        "provider_form": ProviderKeyForm(),
        **extra,
    }


@page("connect")
def connect(request: HttpRequest) -> HttpResponse:
    return render_page(request, "web/connect.html", _context(request))


@post_only
@page("connect")
def api_key_create(request: HttpRequest) -> HttpResponse:
    """The new key's secret is in this answer only (never stored, never shown again)."""
    form = ApiKeyForm(request.POST)
    if form.is_valid():
        if not _drawn(request, form.cleaned_data["once"]):
            messages.info(
                request,
                "That form was sent already: its key is in the list below, and its secret was "
                "shown once. Make another if you need one.",
            )
            return redirect("web:connect")
        try:
            key, secret = accounts.api_key_create(
                user=request.user,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
            )
        except EngramError as error:
            form_error(form, error)
        else:
            _used(request, form.cleaned_data["once"])
            response = render_page(
                request, "web/connect.html", _context(request, secret=secret, new_key=key)
            )
            response["Cache-Control"] = "no-store"
            return response
    return render_page(request, "web/connect.html", _context(request, key_form=form), status=400)


@post_only
@page("connect")
def api_key_revoke(request: HttpRequest, key_id: str) -> HttpResponse:
    accounts.api_key_revoke(user=request.user, key_id=key_id)
    messages.success(request, "The key is revoked: it stops working now.")
    return redirect("web:connect")


@post_only
@page("connect")
def provider_key_save(request: HttpRequest) -> HttpResponse:
    form = ProviderKeyForm(request.POST)
    if form.is_valid():
        try:
            accounts.provider_key_set(user=request.user, **form.cleaned_data)
        except EngramError as error:
            form_error(form, error)
        else:
            messages.success(request, "Saved, encrypted. Chat uses it for this provider's models.")
            return redirect("web:connect")
    return render_page(
        request, "web/connect.html", _context(request, provider_form=form), status=400
    )


@post_only
@page("connect")
def provider_key_delete(request: HttpRequest, provider: str) -> HttpResponse:
    try:
        accounts.provider_key_delete(user=request.user, provider=provider)
    except EngramError as error:
        flash_error(request, error)
    else:
        messages.success(request, "The key is deleted.")
    return redirect("web:connect")
