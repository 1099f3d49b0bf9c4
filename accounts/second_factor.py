"""A second factor (TOTP and its recovery codes) set up and turned off by a signed-in person on
Django's session: the web app's account page. allauth's flows do the work, as its headless API's
do (the secret kept in the session until a code proves the app has it, the secret encrypted at
rest by our MFA adapter, recovery codes made with it, its mails); what allauth asks first, a
recent password, is the current password typed into the same form."""

from dataclasses import dataclass

from allauth.account.internal.flows.reauthentication import reauthenticate_by_password
from allauth.mfa.adapter import get_adapter as get_mfa_adapter
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.forms import ActivateTOTPForm
from allauth.mfa.totp.internal import auth as totp_auth
from allauth.mfa.totp.internal import flows as totp_flows
from django.http import HttpRequest

from accounts.models import User
from core.errors import Conflict, ValidationFailed


@dataclass(frozen=True)
class TotpOffer:
    """A secret for the person's authenticator app: typed, or scanned from the QR code."""

    secret: str
    svg: str  # the QR code of its otpauth:// address


def totp_of(user: User) -> Authenticator | None:
    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()


def recovery_codes_left(user: User) -> int:
    codes = Authenticator.objects.filter(user=user, type=Authenticator.Type.RECOVERY_CODES).first()
    return len(codes.wrap().get_unused_codes()) if codes else 0


def totp_offer(request: HttpRequest) -> TotpOffer:
    """The secret this session offers, kept in it until it is activated."""
    secret = totp_auth.get_totp_secret(regenerate=False)
    adapter = get_mfa_adapter()
    svg = adapter.build_totp_svg(adapter.build_totp_url(request.user, secret))
    return TotpOffer(secret, svg[svg.index("<svg") :])  # without the XML declaration


def _password_confirmed(request: HttpRequest, password: str) -> None:
    """The current password, as allauth's reauthentication asks for before a factor changes."""
    if not request.user.has_usable_password():
        raise Conflict("Set a password first: changing a second factor asks for it.")
    if not request.user.check_password(password):
        raise ValidationFailed(details={"password": ["The current password is wrong."]})
    reauthenticate_by_password(request)


def totp_activate(request: HttpRequest, *, password: str, code: str) -> list[str]:
    """Turn TOTP on with the offered secret, once ``code`` shows the app has it; answer the
    recovery codes, shown this once."""
    _password_confirmed(request, password)
    if totp_of(request.user) is not None:
        raise Conflict("Two-factor authentication is on already.")
    form = ActivateTOTPForm(user=request.user, data={"code": code})
    if not form.is_valid():
        raise ValidationFailed(
            details={"code": ["This code does not match: check the app's time, or scan again."]}
        )
    _, recovery = totp_flows.activate_totp(request, form)
    return recovery.wrap().get_unused_codes() if recovery else []


def totp_deactivate(request: HttpRequest, *, password: str) -> None:
    """Turn TOTP off (its recovery codes go with it)."""
    _password_confirmed(request, password)
    authenticator = totp_of(request.user)
    if authenticator is None:
        raise Conflict("Two-factor authentication is off already.")
    totp_flows.deactivate_totp(request, authenticator)
