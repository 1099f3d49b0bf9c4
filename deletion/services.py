"""Deleting an account and everything in it.

What the person keeps with Engram goes: memories and their history, chats, tasks and quests,
API and provider keys, personas, backups (their bytes in storage too, backups.receivers), the
organisations only they are in, their ratings and installations. First what would take other
people's things with it is refused (an organisation with other members, published plugins),
then a subscription ends at Stripe, so no one pays for an account that is gone, then the rest
is deleted; all in one transaction. Stripe's own records (invoices, the customer) stay at
Stripe, as the law on invoices asks; the local copy of the customer loses its account.
"""

import logging
from datetime import timedelta

from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.services import refresh_tokens_revoke_all
from billing.services import subscription_end_now
from core.errors import ValidationFailed
from marketplace.services.installs import marketplace_leave
from memories.services import memories_delete_all, user_indexes_drop_on_commit
from teams.services import memberships_end

logger = logging.getLogger(__name__)

# How recent a sign-in must be to delete an account that has no password.
SIGNED_IN_LATELY = timedelta(minutes=15)


def account_delete(*, user: User, password: str = "", confirm_email: str = "") -> None:
    """Delete ``user``'s account for good. ``confirm_email`` must be the account's address (a
    deletion is never one stray request), and ``password`` its password when it has one, or,
    without one, a sign-in within SIGNED_IN_LATELY (a stolen session or token alone deletes
    nothing). Refusals change nothing: 400 for the confirmation, 409 from the teams and the
    marketplace, 503 when Stripe cannot be reached."""
    _confirmed(user, password=password, confirm_email=confirm_email)
    user_id = user.pk
    with transaction.atomic():
        memberships_end(user=user)
        marketplace_leave(user=user)
        # After the refusals, before anything is gone: Stripe failing rolls all of it back. (A
        # commit failing after it leaves an account without its subscription, not the reverse.)
        subscription_end_now(user=user)
        user_indexes_drop_on_commit(user_id=user_id)
        memories_delete_all(user=user)  # in a few statements, where a cascade loads each row
        refresh_tokens_revoke_all(user)
        email = user.email
        user.delete()
        # Told, so that a deletion by whoever else had the password does not go unnoticed.
        transaction.on_commit(lambda: _farewell_mail(email))
    logger.info("account %s deleted", user_id)


def _signed_in_lately(user: User) -> bool:
    return user.last_login is not None and timezone.now() - user.last_login <= SIGNED_IN_LATELY


def _farewell_mail(email: str) -> None:
    try:
        send_mail(
            subject="Your Engram account is deleted",
            message=(
                f"The Engram account of {email} and everything in it (memories, chats, tasks, "
                "keys, backups) were deleted just now, as asked from a signed-in session.\n\n"
                "If this was not you, someone signed in as you: if it was with your password, it "
                "may be in use elsewhere, so change it wherever you used it.\n"
            ),
            from_email=None,
            recipient_list=[email],
        )
    except Exception as exc:  # the deletion is done; a mail server that is down does not undo it
        logger.warning("the deleted account's farewell mail was not sent: %s", type(exc).__name__)


def _confirmed(user: User, *, password: str, confirm_email: str) -> None:
    errors: dict[str, list[str]] = {}
    if confirm_email.strip().lower() != user.email.lower():
        errors["confirm_email"] = ["Type your account's email address to confirm."]
    if user.has_usable_password():
        if not user.check_password(password):
            errors["password"] = ["The password is wrong."]
    elif not _signed_in_lately(user):
        # With no password to ask, a sign-in through the provider is the proof: a refreshed
        # token or an old session (which a thief may hold) is not a sign-in.
        errors["password"] = [
            "This account has no password: sign in again through your provider, then delete it "
            f"within {SIGNED_IN_LATELY.seconds // 60} minutes."
        ]
    if errors:
        raise ValidationFailed("The deletion was not confirmed.", details=errors)
