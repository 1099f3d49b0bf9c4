"""The account page: the person's preferences (name, default model, instructions, what is
remembered), their email address (changed once the new one is verified), their
password (changed, or a first one for an account made through a provider), two-factor
authentication (on with an authenticator app, its recovery codes shown once; off), and the
providers linked to the account (unlinked, unless it is the last way in), and the account's
deletion. Each form calls the services the API's endpoints call."""

from typing import Any

from django.contrib import messages
from django.contrib.auth import logout, update_session_auth_hash
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from accounts import second_factor, social
from accounts import services as accounts
from accounts.ratelimit import login_rate_limit
from core.errors import Conflict, EngramError, NotFound
from deletion.services import account_delete
from web.forms import (
    AccountDeletionForm,
    EmailChangeForm,
    PasswordChangeForm,
    ProfileForm,
    SecondFactorForm,
)
from web.views.common import flash_error, form_error, page, post_only, render_page


def _context(request: HttpRequest, **forms: Any) -> dict[str, Any]:
    user = request.user
    totp = second_factor.totp_of(user)
    has_password = user.has_usable_password()
    return {
        "verified": accounts.email_verified(user),
        "has_password": has_password,
        "totp": totp,
        "recovery_codes_left": second_factor.recovery_codes_left(user) if totp else 0,
        # A secret is offered only to someone who can turn the factor on (a password first).
        "offer": second_factor.totp_offer(request) if has_password and not totp else None,
        "linked": [
            (account, social.provider_name(account), social.account_label(account))
            for account in social.linked_accounts(user)
        ],
        "profile_form": forms.get("profile_form") or ProfileForm(instance=user),
        "email_form": forms.get("email_form") or EmailChangeForm(),
        "password_form": (
            forms.get("password_form") or PasswordChangeForm(has_password=has_password)
        ),
        "factor_form": forms.get("factor_form") or SecondFactorForm(turning_on=totp is None),
        "deletion_form": (
            forms.get("deletion_form") or AccountDeletionForm(has_password=has_password)
        ),
    }


def _again(request: HttpRequest, **forms: Any) -> HttpResponse:
    """The page with a refused form's errors."""
    return render_page(request, "web/account.html", _context(request, **forms), status=400)


@page("account")
def account(request: HttpRequest) -> HttpResponse:
    return render_page(request, "web/account.html", _context(request))


@post_only
@page("account")
def profile_change(request: HttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST)
    if form.is_valid():
        try:
            accounts.user_profile_update(user=request.user, changes=form.cleaned_data)
        except EngramError as error:
            form_error(form, error)
        else:
            messages.success(request, "Your preferences are saved.")
            return redirect("web:account")
    return _again(request, profile_form=form)


@post_only
@page("account")
def email_change(request: HttpRequest) -> HttpResponse:
    form = EmailChangeForm(request.POST)
    if form.is_valid():
        try:
            accounts.user_email_change(
                request=request, user=request.user, email=form.cleaned_data["email"]
            )
        except EngramError as error:
            form_error(form, error)
        else:
            messages.success(
                request,
                f"A link is on its way to {form.cleaned_data['email']}: your address changes once "
                "it is followed. Until then, sign in with the current one.",
            )
            return redirect("web:account")
    return _again(request, email_form=form)


@post_only
@page("account")
def password_change(request: HttpRequest) -> HttpResponse:
    user = request.user
    has_password = user.has_usable_password()
    form = PasswordChangeForm(request.POST, has_password=has_password)
    if form.is_valid():
        data = form.cleaned_data
        try:
            # A current password tried here counts as a sign-in attempt.
            login_rate_limit(request, account=user.email)
            if has_password:
                accounts.user_password_change(
                    user=user, old_password=data["old_password"], new_password=data["new_password"]
                )
            else:
                accounts.user_password_add(user=user, password=data["new_password"])
        except EngramError as error:
            form_error(form, error)
        else:
            # This browser stays signed in; every other session and refresh token ends.
            update_session_auth_hash(request, user)
            messages.success(request, "Your password is changed. Other sessions are signed out.")
            return redirect("web:account")
    return _again(request, password_form=form)


@post_only
@page("account")
def second_factor_change(request: HttpRequest) -> HttpResponse:
    """On (with the app's code) or off, the current password either way."""
    turning_on = second_factor.totp_of(request.user) is None
    form = SecondFactorForm(request.POST, turning_on=turning_on)
    if form.is_valid():
        data = form.cleaned_data
        try:
            login_rate_limit(request, account=request.user.email)
            if turning_on:
                codes = second_factor.totp_activate(
                    request, password=data["password"], code=data["code"]
                )
            else:
                second_factor.totp_deactivate(request, password=data["password"])
        except EngramError as error:
            form_error(form, error)
        else:
            if not turning_on:
                return redirect("web:account")
            response = render_page(
                request, "web/account.html", {**_context(request), "recovery_codes": codes}
            )
            response["Cache-Control"] = "no-store"  # the codes are shown this once
            return response
    return _again(request, factor_form=form)


@post_only
@page("account")
def linked_account_unlink(request: HttpRequest, account_id: str) -> HttpResponse:
    if not account_id.isdigit():
        raise NotFound("No such linked account.")
    try:
        social.linked_account_unlink(request=request, user=request.user, account_id=account_id)
    except Conflict as error:  # the last way in (another's account is the 404 page)
        flash_error(request, error)
    else:
        messages.success(request, "The provider is unlinked.")
    return redirect("web:account")


@post_only
@page("account")
def account_deletion(request: HttpRequest) -> HttpResponse:
    user = request.user
    form = AccountDeletionForm(request.POST, has_password=user.has_usable_password())
    if form.is_valid():
        try:
            # The password tried here counts as a sign-in attempt.
            login_rate_limit(request, account=user.email)
            account_delete(user=user, **form.cleaned_data)
        except EngramError as error:
            form_error(form, error)
        else:
            logout(request)
            messages.success(request, "Your account and everything in it are deleted.")
            return redirect("web:home")
    return _again(request, deletion_form=form)
