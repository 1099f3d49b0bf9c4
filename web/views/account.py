"""Signing up, in and out, and a forgotten password, on Django's session: the account
services (accounts.services, whose sign-in checks a second factor and a verified address as the
API's does), allauth's password-reset forms, so its emailed links land on these pages, and
allauth's provider sign-in, which comes back to provider_sign_in_done. Each form that tries a
credential or sends a mail counts in the same limits as allauth's endpoints for the same thing
(accounts.ratelimit), so no door is a way around another's."""

import time
from urllib.parse import urlencode

from allauth.account.forms import ResetPasswordForm, ResetPasswordKeyForm, UserTokenForm
from allauth.account.models import get_emailconfirmation_model
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from accounts import services as accounts
from accounts import social
from accounts.models import User
from accounts.ratelimit import (
    EMAIL_VERIFICATION_GROUP,
    PASSWORD_RESET_GROUP,
    PASSWORD_RESET_KEY_GROUP,
    SIGNUP_GROUP,
    auth_rate_limit,
    login_rate_limit,
)
from accounts.selectors import active_user
from accounts.social import SignInProvider
from core.errors import EmailNotVerified, EngramError, ErrorCode, MfaRequired
from core.views import RootView
from web.forms import SignInForm, SignUpForm
from web.views.common import flash_error, form_error, page, post_only

# The backend a session signed in here is kept under (allauth's: it knows email sign-in).
SESSION_BACKEND = "allauth.account.auth_backends.AuthenticationBackend"
# A sign-in whose password was right, waiting for its second factor: the account, and since when.
PENDING_SIGN_IN = "web_pending_sign_in"
PENDING_SIGN_IN_SECONDS = 300


def home(request: HttpRequest) -> HttpResponse:
    """``/``: a client that does not ask for HTML first gets the JSON of what this server is;
    a person gets their memories, or, signed out, the landing page (with the same doors)."""
    if request.get_preferred_type(["application/json", "text/html"]) != "text/html":
        return RootView.as_view()(request)
    if request.user.is_authenticated:
        return redirect("web:memories")
    return render(request, "web/landing.html", {"version": settings.ENGRAM_VERSION})


def _next_path(request: HttpRequest) -> str:
    """Where the person asked to go after signing in or up (a page that sent them here, as the
    extension's connect page does), or ""."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    # Only a path on this server: never an open redirect.
    return target if target.startswith("/") and not target.startswith("//") else ""


def _next_url(request: HttpRequest) -> str:
    return _next_path(request) or settings.LOGIN_REDIRECT_URL


def _providers_context(request: HttpRequest) -> dict:
    """The provider buttons of a sign-in or sign-up page: they come back to
    provider_sign_in_done, which goes on to where the person was going."""
    after = _next_path(request)
    done = reverse("web:provider-done")
    return {
        "providers": social.sign_in_providers(request),
        "provider_callback": f"{done}?{urlencode({'next': after})}" if after else done,
    }


def sign_up(request: HttpRequest) -> HttpResponse:
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            auth_rate_limit(request, group=SIGNUP_GROUP, account=form.cleaned_data["email"])
            user, tokens = accounts.user_sign_up(
                request=request,
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
            )
        except EngramError as error:
            form_error(form, error)
        else:
            if tokens is None:  # the address must be verified first
                messages.success(request, "Check your inbox: a link verifies your address.")
                after = _next_path(request)
                sign_in_page = reverse("web:sign-in")
                return redirect(
                    f"{sign_in_page}?{urlencode({'next': after})}" if after else sign_in_page
                )
            login(request, user, backend=SESSION_BACKEND)
            messages.success(request, "Welcome to Engram.")
            return redirect(_next_url(request))
    context = {"form": form, "next": _next_path(request), **_providers_context(request)}
    return render(request, "web/sign_up.html", context)


def sign_in(request: HttpRequest) -> HttpResponse:
    """Email and password; with a second factor on, a second step asks for the code alone (the
    account whose password was right is kept in the session for PENDING_SIGN_IN_SECONDS)."""
    if request.GET.get("restart"):
        request.session.pop(PENDING_SIGN_IN, None)
    pending = _pending_sign_in(request)
    form = SignInForm(request.POST or None, code_only=pending is not None)
    needs_code = pending is not None
    sso = None  # a team's provider, when its domain refuses the password
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            login_rate_limit(request, account=pending.email if pending else data["email"])
            user = pending or accounts.user_password_check(
                email=data["email"], password=data["password"]
            )
            user = accounts.user_sign_in_finish(request=request, user=user, code=data["code"])
        except MfaRequired:
            # The password was right (only the last step asks for a code): next, the code alone.
            request.session[PENDING_SIGN_IN] = {"user": str(user.pk), "at": time.time()}
            pending, needs_code = user, True
            form.add_error("code", "Enter the code from your authenticator app.")
        except EmailNotVerified as error:
            form.add_error(None, f"{error.message} We sent a new link.")
        except EngramError as error:
            needs_code = pending is not None or bool(data["code"])
            form_error(form, error)
            if error.code == ErrorCode.SSO_REQUIRED:
                sso = SignInProvider(error.details["provider"], "Sign in with your organisation")
        else:
            request.session.pop(PENDING_SIGN_IN, None)
            login(request, user, backend=SESSION_BACKEND)
            return redirect(_next_url(request))
    context = {
        "form": form, "needs_code": needs_code, "pending": pending, "next": _next_path(request),
        "sso_providers": [sso] if sso else [], **_providers_context(request),
    }  # fmt: skip
    return render(request, "web/sign_in.html", context)


def _pending_sign_in(request: HttpRequest) -> User | None:
    """The account whose password this session gave moments ago, waiting for its code."""
    pending = request.session.get(PENDING_SIGN_IN)
    if not pending or time.time() - pending["at"] > PENDING_SIGN_IN_SECONDS:
        request.session.pop(PENDING_SIGN_IN, None)
        return None
    return active_user(pending["user"])


def provider_sign_in_done(request: HttpRequest) -> HttpResponse:
    """Where a provider's sign-in comes back (the buttons' callback): signed in, on to where the
    person was going; waiting for a second factor, its code asked here (allauth's own step,
    counted in the sign-in limits); waiting for the address's emailed link, the sign-in page
    saying so."""
    if request.user.is_authenticated:
        return redirect(_next_url(request))
    pending = social.pending_sign_in(request)
    if pending is None:
        messages.error(request, "Signing in with your provider did not complete. Try again.")
        return redirect("web:sign-in")
    if pending.stage != social.SECOND_FACTOR_STAGE:
        messages.success(request, "Check your inbox: a link verifies your address.")
        return redirect("web:sign-in")
    form = SignInForm(request.POST or None, code_only=True)
    if request.method == "POST" and form.is_valid():
        try:
            login_rate_limit(request, account=pending.user.email)
            social.pending_sign_in_code(request, form.cleaned_data["code"])
        except EngramError as error:
            form_error(form, error)
        else:
            return redirect(request.get_full_path())  # signed in now: on to ``next``
    # The sign-in page's second step, posted back here.
    context = {"form": form, "needs_code": True, "pending": pending.user}
    return render(request, "web/sign_in.html", context)


def provider_sign_in_failed(request: HttpRequest) -> HttpResponse:
    """Where allauth sends a browser whose sign-in with a provider did not complete
    (HEADLESS_FRONTEND_URLS: consent cancelled, a state or code refused): the sign-in page,
    saying so."""
    if request.GET.get("error") == "cancelled":
        messages.error(request, "Signing in with your provider was cancelled.")
    else:
        messages.error(request, "Signing in with your provider did not complete. Try again.")
    return redirect("web:sign-in")


@post_only
def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    messages.success(request, "You are signed out.")
    return redirect("web:sign-in")


def password_forgot(request: HttpRequest) -> HttpResponse:
    """allauth's reset form: the mail (to a known address only; the answer is the same) links
    to password_reset below, the page HEADLESS_FRONTEND_URLS names."""
    form = ResetPasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            auth_rate_limit(request, group=PASSWORD_RESET_GROUP, account=form.cleaned_data["email"])
        except EngramError as error:
            form_error(form, error)
        else:
            form.save(request)
            messages.success(request, "If an account has this address, a reset link is on its way.")
            return redirect("web:sign-in")
    return render(request, "web/password_forgot.html", {"form": form})


def password_reset(request: HttpRequest, key: str) -> HttpResponse:
    """The emailed link's page: a new password for the account the key names (once, for
    PASSWORD_RESET_TIMEOUT), which signs out every other session of it."""
    uidb36, _, token = key.partition("-")
    token_form = UserTokenForm(data={"uidb36": uidb36, "key": token})
    if not token_form.is_valid():
        return render(request, "web/password_reset.html", {"invalid": True}, status=400)
    user = token_form.reset_user
    form = ResetPasswordKeyForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        try:
            auth_rate_limit(request, group=PASSWORD_RESET_KEY_GROUP, account=key)
        except EngramError as error:
            form_error(form, error)
        else:
            accounts.user_password_reset(user=user, password=form.cleaned_data["password1"])
            messages.success(request, "Your password is changed. Sign in with it.")
            return redirect("web:sign-in")
    return render(request, "web/password_reset.html", {"form": form})


@post_only
@page("")
def email_verification_resend(request: HttpRequest) -> HttpResponse:
    """A new verification link for the signed-in person (the page of a used or expired one
    offers it), counted with allauth's verification endpoints."""
    try:
        auth_rate_limit(request, group=EMAIL_VERIFICATION_GROUP, account=request.user.email)
    except EngramError as error:
        flash_error(request, error)
        return redirect("web:memories")
    if accounts.email_verified(request.user):
        messages.success(request, "Your address is verified already.")
    else:
        accounts.email_verification_send(request=request, user=request.user)
        messages.success(request, "A new link is on its way to your inbox.")
    return redirect("web:memories")


def email_verify(request: HttpRequest, key: str) -> HttpResponse:
    """The emailed verification link's page (HEADLESS_FRONTEND_URLS): a button confirms the
    address (a GET changes nothing, so a mail scanner following the link verifies nothing)."""
    confirmation = get_emailconfirmation_model().from_key(key)
    if confirmation is None:
        return render(request, "web/email_verify.html", {"invalid": True}, status=400)
    if request.method == "POST":
        if confirmation.confirm(request) is None:
            return render(request, "web/email_verify.html", {"invalid": True}, status=400)
        messages.success(request, "Your address is verified.")
        return redirect("web:memories" if request.user.is_authenticated else "web:sign-in")
    return render(request, "web/email_verify.html", {"email": confirmation.email_address.email})
