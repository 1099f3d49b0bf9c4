"""Sign-in with Google, GitHub and any OpenID Connect provider, on django-allauth's
``socialaccount``: where its rules meet ours (docs/identity.md).

- allauth's OpenID Connect provider sends no ``nonce``; ours sends one with each redirect,
  keeps it in the redirect's server-side state, and refuses an ID token that does not carry it.
- A provider's email signs in to an existing account (and links the provider) only if the
  provider says it is verified (allauth's email authentication looks at verified addresses
  only); an account whose own address was never verified loses its password and its refresh
  tokens when that happens, as whoever set that password never proved the address.
- The last way to sign in cannot be unlinked (allauth's ``validate_disconnect``).
"""

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

import jwt
import requests
from allauth.account.internal.stagekit import get_pending_stage
from allauth.account.stages import LoginStageController
from allauth.mfa.base.forms import AuthenticateForm
from allauth.mfa.stages import AuthenticateStage
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter, get_adapter
from allauth.socialaccount.helpers import render_authentication_error
from allauth.socialaccount.internal.flows.connect import validate_disconnect
from allauth.socialaccount.models import SocialAccount, SocialLogin
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.openid_connect.provider import (
    OpenIDConnectProvider as AllauthOpenIDConnectProvider,
)
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter
from allauth.socialaccount.signals import social_account_removed
from django.core.exceptions import (
    PermissionDenied,
    ValidationError,
)
from django.db import transaction
from django.http import HttpRequest
from django.utils.module_loading import import_string

from accounts import services
from accounts.models import User
from core.errors import AuthenticationFailed, Conflict, ErrorCode, NotFound

NONCE_STATE_KEY = "oidc_nonce"
# An ID token is signed with the provider's published key: an asymmetric algorithm, never
# "none" nor an HMAC keyed with a public key.
ID_TOKEN_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


# An app setting naming a function (dotted path) that says why its issuer may not be fetched, or
# None: for issuers users chose (a team's SSO), checked each time before it is fetched.
ISSUER_CHECK = "issuer_check"


class OpenIDConnectAdapter(OpenIDConnectOAuth2Adapter):
    """allauth's, with the issuer's configuration read safely: an issuer a user chose is checked
    again before each fetch (it may resolve elsewhere since it was saved), and a configuration
    that cannot be read is allauth's authentication error (the browser goes back to the sign-in
    page saying so), where it was a 500 for anyone who asked for the provider."""

    @property
    def openid_config(self) -> dict:
        if not hasattr(self, "_openid_config"):
            provider = self.get_provider()
            check = provider.app.settings.get(ISSUER_CHECK)
            if check and (refusal := import_string(check)(provider.server_url)):
                raise OAuth2Error(refusal)
            try:
                return super().openid_config
            except (requests.RequestException, ValueError) as exc:
                raise OAuth2Error(f"The provider's configuration is unreadable ({exc}).") from exc
        return self._openid_config


class OpenIDConnectProvider(AllauthOpenIDConnectProvider):
    """allauth's OpenID Connect provider, with a nonce sent and checked."""

    # Its URLs and views stay allauth's (/accounts/oidc/<id>/login/callback/).
    package = "allauth.socialaccount.providers.openid_connect"
    oauth2_adapter_class = OpenIDConnectAdapter

    def redirect(self, request: HttpRequest, process, next_url=None, data=None, **kwargs):
        nonce = secrets.token_urlsafe(32)
        auth_params = kwargs.pop("auth_params", None)
        if auth_params is None:
            auth_params = self.get_auth_params()
        auth_params["nonce"] = nonce
        try:
            return super().redirect(
                request, process, next_url, data, auth_params=auth_params,
                **{NONCE_STATE_KEY: nonce}, **kwargs,
            )  # fmt: skip
        except OAuth2Error as exc:  # the issuer's configuration (OpenIDConnectAdapter)
            return render_authentication_error(request, self, exception=exc)

    def verify_token(self, request: HttpRequest, token):
        """An ID token handed over by an app: allauth checks its signature, issuer, audience and
        expiry; a token whose header names no key, or an algorithm that is not a public-key
        signature, is refused before (allauth answered those with a 500)."""
        id_token = token.get("id_token") if isinstance(token, dict) else None
        try:
            header = jwt.get_unverified_header(id_token or "")
        except jwt.PyJWTError:
            header = {}
        if header.get("alg") not in ID_TOKEN_ALGORITHMS or not isinstance(header.get("kid"), str):
            raise get_adapter().validation_error("invalid_token")
        return super().verify_token(request, token)


def _id_token_nonce(sociallogin: SocialLogin) -> str:
    id_token = (sociallogin.account.extra_data or {}).get("id_token")
    nonce = id_token.get("nonce") if isinstance(id_token, dict) else None
    return nonce if isinstance(nonce, str) else ""


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def pre_social_login(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        """A redirect that sent a nonce takes back only an ID token that carries it."""
        expected = (sociallogin.state or {}).get(NONCE_STATE_KEY)
        if expected is not None and not hmac.compare_digest(
            _id_token_nonce(sociallogin).encode(), str(expected).encode()
        ):
            raise PermissionDenied("The ID token's nonce is not the one sent.")
        super().pre_social_login(request, sociallogin)

    def authenticate_by_email(self, sociallogin: SocialLogin) -> tuple[Any, str] | None:
        found = super().authenticate_by_email(sociallogin)
        if found is not None:
            user, email = found
            if not user.emailaddress_set.filter(email__iexact=email, verified=True).exists():
                # allauth wipes the password of such an account; its sessions end as well.
                services.refresh_tokens_revoke_all(user)
        return found

    def save_user(self, request, sociallogin: SocialLogin, form=None):
        user = super().save_user(request, sociallogin, form)
        services.pending_email_changes_cancel(user=user)
        return user

    def list_apps(self, request, provider=None, client_id=None):
        # Apps come from settings only: a client secret is never kept in the database.
        return [app for app in super().list_apps(request, provider, client_id) if not app.pk]


@dataclass(frozen=True)
class SignInProvider:
    id: str  # what a browser posts to allauth's redirect as ``provider``
    name: str


def sign_in_providers(request: HttpRequest) -> list[SignInProvider]:
    """The providers this server offers everyone (a team's own is offered only where its
    domain requires it: teams/sso.py)."""
    return [
        SignInProvider(provider.sub_id, provider.name)
        for provider in get_adapter().list_providers(request)
        if provider.supports_redirect
    ]


# The step of a pending sign-in that asks for a second factor's code.
SECOND_FACTOR_STAGE = AuthenticateStage.key


@dataclass(frozen=True)
class PendingSignIn:
    """A sign-in allauth started in this browser (through a provider) that waits for a step:
    ``stage`` is "mfa_authenticate" (a code) or "verify_email" (the emailed link)."""

    stage: str
    user: User


def pending_sign_in(request: HttpRequest) -> PendingSignIn | None:
    stage = get_pending_stage(request)
    if stage is None or stage.login.user is None:
        return None
    return PendingSignIn(stage.key, stage.login.user)


def pending_sign_in_code(request: HttpRequest, code: str) -> None:
    """The second factor of this browser's pending sign-in: a right ``code`` (TOTP or an unused
    recovery code) lets it go on, as allauth's own step does; a wrong one is
    AuthenticationFailed."""
    stage = LoginStageController.enter(request, SECOND_FACTOR_STAGE)
    if stage is None:
        raise AuthenticationFailed("This sign-in is no longer waiting for a code: start again.")
    form = AuthenticateForm(user=stage.login.user, data={"code": code})
    if not form.is_valid():
        raise AuthenticationFailed("Invalid authentication code.", details={"field": "code"})
    form.save()
    stage.exit()


def provider_name(account: SocialAccount) -> str:
    provider = services.linked_provider(account)
    return provider.name if provider is not None else account.provider


def account_label(account: SocialAccount) -> str:
    """How the provider names the account (an email, a login), else its id there."""
    provider = services.linked_provider(account)
    return provider.wrap_account(account).to_str() if provider is not None else account.uid


def linked_accounts(user: User) -> list[SocialAccount]:
    return list(SocialAccount.objects.filter(user=user).order_by("date_joined", "pk"))


def linked_account_unlink(*, request: HttpRequest, user: User, account_id: Any) -> None:
    """Unlink one of ``user``'s provider accounts; refused (409 LAST_SIGN_IN_METHOD) when it is
    their last way to sign in."""
    account = SocialAccount.objects.filter(user=user, pk=account_id).first()
    if account is None:
        raise NotFound("No such linked account.")
    with transaction.atomic():
        try:
            validate_disconnect(request, account)
        except ValidationError as exc:
            raise Conflict(
                "This is your last way to sign in: set a password or link another provider first.",
                code=ErrorCode.LAST_SIGN_IN_METHOD,
                details={"reason": exc.code or "disconnect_last"},
            ) from exc
        account.delete()
    social_account_removed.send(sender=SocialAccount, request=request, socialaccount=account)
