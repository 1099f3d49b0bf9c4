"""What accounts does when Django signals it."""

from typing import Any

from allauth.account.signals import password_reset
from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver

from accounts.services import SESSION_TOKEN_FAMILY, refresh_family_revoke, unvouched_links_drop


@receiver(user_logged_out)
def session_tokens_revoke(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """Signing out of a browser session revokes the refresh tokens of the JWT pairs it was
    given (``POST /api/v1/auth/session/tokens``): they were its sign-in, and outlived it."""
    family = request.session.get(SESSION_TOKEN_FAMILY) if request is not None else None
    if family and user is not None:
        refresh_family_revoke(user_id=user.pk, family=family)


@receiver(password_reset)
def reset_links_check(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """allauth's reset link followed (its headless API): as the web app's reset does."""
    unvouched_links_drop(user=user)
