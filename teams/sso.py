"""Team SSO on allauth's OpenID Connect sign-in (accounts/social.py): each organisation with
SSO settings is one more OpenID Connect app, ``team-<organisation id hex>``, built from its row
(the secret decrypted only here, never stored in allauth's tables); its redirect URI is
``/accounts/oidc/team-<hex>/login/callback/``.

- A team's provider signs in only addresses of the team's verified domains: it cannot assert
  an address of another company and take over its account.
- After a sign-in through it, the person joins the team just in time (as a member, if a seat is
  free: ``services.sso_member_join``).
"""

import logging
import uuid

from allauth.socialaccount.models import SocialApp, SocialLogin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from accounts.social import ISSUER_CHECK, SocialAccountAdapter
from core.errors import QuotaExceeded
from teams import selectors, services
from teams.models import SSO_PROVIDER_PREFIX, TeamSso

logger = logging.getLogger(__name__)


def _organisation_of(provider_id: str) -> uuid.UUID | None:
    if not provider_id.startswith(SSO_PROVIDER_PREFIX):
        return None
    try:
        return uuid.UUID(provider_id.removeprefix(SSO_PROVIDER_PREFIX))
    except ValueError:
        return None


def team_app(sso: TeamSso) -> SocialApp:
    """The organisation's provider as an allauth app (unsaved: nothing lands in its tables)."""
    return SocialApp(
        provider="openid_connect",
        provider_id=sso.provider_id,
        name=f"{sso.organisation.name} SSO",
        client_id=sso.client_id,
        secret=services.sso_client_secret(sso),
        settings={"server_url": sso.issuer, ISSUER_CHECK: "teams.services.issuer_refusal"},
    )


class TeamSocialAccountAdapter(SocialAccountAdapter):
    def list_apps(self, request, provider=None, client_id=None):
        apps = super().list_apps(request, provider, client_id)
        # A team's provider only when asked for by its own id (a sign-in through it, its
        # callback): a list of every provider is what allauth's public configuration answers,
        # and would name every organisation with SSO, its issuer and client id, to anyone.
        wanted = _organisation_of(provider or "")
        if wanted is None:
            return apps
        rows = TeamSso.objects.select_related("organisation").filter(organisation_id=wanted)
        if client_id:
            rows = rows.filter(client_id=client_id)
        return apps + [team_app(sso) for sso in rows]

    def pre_social_login(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        super().pre_social_login(request, sociallogin)
        organisation_id = _organisation_of(sociallogin.account.provider or "")
        if organisation_id is None:
            return
        emails = [address.email for address in sociallogin.email_addresses] or [
            sociallogin.user.email
        ]
        for email in emails:
            found = selectors.sso_domain_of(email or "")
            if found is None or found.organisation_id != organisation_id:
                raise PermissionDenied(
                    "This organisation's sign-in is for addresses of its verified domains."
                )


def member_join_after_sign_in(sender, request, user, **kwargs) -> None:
    """allauth's ``user_logged_in``: a sign-in through a team's provider joins that team."""
    sociallogin = kwargs.get("sociallogin")
    provider = getattr(getattr(sociallogin, "account", None), "provider", "") or ""
    if _organisation_of(provider) is None:
        return
    try:
        services.sso_member_join(user=user)
    except QuotaExceeded as exc:
        # Signed in, not seated: the owner sees why in the seats and the log.
        logger.info("SSO sign-in of %s: no free seat (%s)", user.pk, exc.details)
