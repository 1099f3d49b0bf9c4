"""Account writes: registration, tokens, passwords, profile, API keys and provider keys."""

import functools
import hashlib
import math
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.socialaccount.models import SocialAccount
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.models import update_last_login
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import (
    ImproperlyConfigured,
    MultipleObjectsReturned,
    ObjectDoesNotExist,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.module_loading import import_string
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenError
from rest_framework_simplejwt.state import token_backend
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts import crypto
from accounts.models import PREFERENCE_FIELDS, ApiKey, Provider, ProviderKey, User
from billing.tiers import allowance_required
from core.db import row_reader, transaction_lock
from core.egress import url_refusal
from core.errors import (
    AuthenticationFailed,
    Conflict,
    EmailNotVerified,
    MfaRequired,
    NotFound,
    QuotaExceeded,
    ValidationFailed,
)
from core.ownership import get_owned_object

API_KEY_PREFIX = "egm_"
API_KEY_DISPLAY_CHARS = 12
API_KEYS_PER_USER = 50
# last_used_at is a hint, not an audit log: write it at most this often per key.
LAST_USED_RESOLUTION_SECONDS = 60
# The refresh token's claim naming the sign-in it was rotated from: the jti of that sign-in's
# first refresh token.
FAMILY_CLAIM = "family"
# The browser session's key holding the family of the JWT pairs the session was given.
SESSION_TOKEN_FAMILY = "accounts_token_family"

PROFILE_FIELDS = frozenset({"display_name", *PREFERENCE_FIELDS})
# allauth.mfa's secrets (a TOTP secret, a recovery-code seed), encrypted by
# accounts.identity.MfaAdapter: the keys of Authenticator.data that hold them.
MFA_SECRET_CONTEXT = "mfa-secret"
MFA_SECRET_FIELDS = ("secret", "seed")


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str
    access_expires_at: datetime

    @property
    def expires_in(self) -> int:
        """Whole seconds the access token has left: what a client schedules its refresh by."""
        return max(math.ceil((self.access_expires_at - timezone.now()).total_seconds()), 0)


# --- Users and tokens ----------------------------------------------------------------------------


def _check_password(password: str, user: User, field: str = "password") -> None:
    try:
        validate_password(password, user)
    except DjangoValidationError as exc:
        raise ValidationFailed(details={field: list(exc.messages)}) from None


def user_register(*, email: str, password: str, display_name: str = "") -> User:
    """Create an account. The email is unique without regard to case."""
    email = email.strip().lower()
    candidate = User(email=email, display_name=display_name)
    _check_password(password, candidate)
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationFailed(details={"email": ["An account with this email already exists."]})
    try:
        user = User.objects.create_user(email, password, display_name=display_name)
    except IntegrityError:  # a concurrent registration of the same email won the race
        raise ValidationFailed(
            details={"email": ["An account with this email already exists."]}
        ) from None
    pending_email_changes_cancel(user=user)
    return user


def pending_email_changes_cancel(*, user: User) -> None:
    """``user``'s address is theirs now: other accounts' pending changes to it are dropped (their
    links then answer "invalid or expired" instead of failing on the address being taken)."""
    EmailAddress.objects.filter(email__iexact=user.email, verified=False).exclude(
        user=user
    ).delete()


def user_sign_up(
    *, request: HttpRequest, email: str, password: str, display_name: str = ""
) -> tuple[User, TokenPair | None]:
    """Register, mail a link that verifies the address (unless verification is off), and issue
    the first token pair, in one transaction: an account whose tokens could not be issued is not
    left behind (the client would retry into "already exists"). No pair while verification is
    mandatory: the account signs in once its address is verified."""
    with transaction.atomic():
        user = user_register(email=email, password=password, display_name=display_name)
        _primary_address(user)
        tokens = None if email_verification_required() else tokens_issue(user=user)
    if settings.ACCOUNT_EMAIL_VERIFICATION != "none":
        email_verification_send(request=request, user=user)
    return user, tokens


def email_verification_required() -> bool:
    return settings.ACCOUNT_EMAIL_VERIFICATION == "mandatory"


def email_verified(user: User) -> bool:
    return EmailAddress.objects.filter(user=user, email__iexact=user.email, verified=True).exists()


def _primary_address(user: User) -> EmailAddress:
    # Accounts made before allauth came have no address row until they need one.
    address, _ = EmailAddress.objects.get_or_create(
        user=user, email=user.email.lower(), defaults={"primary": True}
    )
    return address


def email_verification_send(*, request: HttpRequest, user: User) -> None:
    """Mail ``user`` a link that verifies their current address; its key works at allauth's
    ``POST /_allauth/app/v1/auth/email/verify``."""
    address = _primary_address(user)
    if not address.verified:
        address.send_confirmation(request)


def user_second_factor_check(*, user: User, code: str) -> None:
    """Pass if ``user`` has no second factor, or ``code`` is a current TOTP code or an unused
    recovery code of theirs (either is then used up); raise MfaRequired without a code and
    AuthenticationFailed with a wrong one."""
    code = code.strip()
    authenticators = list(
        Authenticator.objects.filter(user=user).exclude(type=Authenticator.Type.WEBAUTHN)
    )
    if not authenticators:
        return
    if not code:
        raise MfaRequired()
    for authenticator in authenticators:
        if authenticator.wrap().validate_code(code):
            authenticator.record_usage()
            return
    raise AuthenticationFailed("Invalid authentication code.", details={"field": "code"})


def user_login(*, request: HttpRequest, email: str, password: str, code: str = "") -> User:
    """The user with these credentials. With a second factor on, ``code`` is a TOTP code or a
    recovery code (MFA_REQUIRED without one). While verification is mandatory, an unverified
    address is refused (EMAIL_NOT_VERIFIED) and mailed a fresh link. ACCOUNTS_SIGN_IN_CHECKS
    may refuse first (a team requiring SSO for the address's domain: SSO_REQUIRED)."""
    user = user_password_check(email=email, password=password)
    return user_sign_in_finish(request=request, user=user, code=code)


def user_password_check(*, email: str, password: str) -> User:
    """A sign-in's first step: the user with these credentials, once ACCOUNTS_SIGN_IN_CHECKS
    pass; AuthenticationFailed otherwise."""
    for check in settings.ACCOUNTS_SIGN_IN_CHECKS:
        import_string(check)(email=email.strip())
    user = authenticate(email=email.strip(), password=password)
    if user is None:
        raise AuthenticationFailed("Invalid email or password.")
    return user


def user_sign_in_finish(*, request: HttpRequest, user: User, code: str = "") -> User:
    """The rest of a sign-in whose password was right (now, or moments ago in the same browser
    session: the web's second step): the second factor, the verified address, the last login."""
    user_second_factor_check(user=user, code=code)
    if email_verification_required() and not email_verified(user):
        email_verification_send(request=request, user=user)
        raise EmailNotVerified()
    update_last_login(None, user)
    return user


def user_email_change(*, request: HttpRequest, user: User, email: str) -> EmailAddress:
    """Start a change of ``user``'s email: the new address is mailed a verification link and
    replaces the old one only once verified (until then the old one still signs in). A second
    request replaces a pending one."""
    email = email.strip().lower()
    taken = User.objects.filter(email__iexact=email).exclude(pk=user.pk).exists()
    if taken or EmailAddress.objects.filter(email__iexact=email, verified=True).exists():
        raise ValidationFailed(details={"email": ["An account with this email already exists."]})
    if email == user.email:
        raise ValidationFailed(details={"email": ["This is already your email address."]})
    with transaction.atomic():
        # Not allauth's add_new_email: it takes the user's newest unverified address for the
        # pending change, which for an account not yet verified is its own, and removes it
        # (blanking the account's email).
        EmailAddress.objects.filter(user=user, verified=False).exclude(
            email__iexact=user.email
        ).delete()
        address = EmailAddress.objects.create(user=user, email=email)
    address.send_confirmation(request)
    return address


def tokens_issue(*, user: User, family: str | None = None) -> TokenPair:
    """A new access/refresh pair whose claims carry the user's id and tier. ``family``: the
    sign-in the refresh token descends from by rotation (a new sign-in starts one)."""
    refresh = RefreshToken.for_user(user)
    refresh["tier"] = user.tier
    refresh[FAMILY_CLAIM] = family or refresh["jti"]
    # simplejwt stored the token as it was before these claims: store what the client holds.
    OutstandingToken.objects.filter(jti=refresh["jti"]).update(token=str(refresh))
    access = refresh.access_token
    return TokenPair(
        access=str(access),
        refresh=str(refresh),
        access_expires_at=datetime.fromtimestamp(access["exp"], UTC),
    )


def _valid_refresh(raw: str) -> RefreshToken:
    try:
        return RefreshToken(raw)
    except TokenError:
        _family_revoke_if_replayed(raw)
        raise AuthenticationFailed("The refresh token is invalid, expired or revoked.") from None


def _family_revoke_if_replayed(raw: str) -> None:
    """A genuine refresh token already rotated (or signed out) presented again: it was copied,
    and either copy may be the thief's. Every token of its sign-in is revoked, so whoever holds
    the newest one signs in again (OAuth 2.0 Security BCP, refresh token reuse detection)."""
    try:
        payload = token_backend.decode(raw, verify=True)
    except TokenBackendError:
        return  # forged or expired: nothing of ours to protect
    if (
        payload.get("token_type") != "refresh"
        or not BlacklistedToken.objects.filter(token__jti=payload.get("jti")).exists()
    ):
        return
    refresh_family_revoke(
        user_id=payload.get("user_id"), family=payload.get(FAMILY_CLAIM, payload.get("jti"))
    )


def refresh_family_revoke(*, user_id: Any, family: str) -> None:
    """Revoke every open refresh token of ``user_id`` descending from one sign-in, ``family``
    (rotation keeps it: tokens_issue)."""
    open_tokens = OutstandingToken.objects.filter(
        user_id=user_id, blacklistedtoken__isnull=True, expires_at__gt=timezone.now()
    )
    BlacklistedToken.objects.bulk_create(
        [
            BlacklistedToken(token=token)
            for token in open_tokens
            if token_backend.decode(token.token, verify=False).get(FAMILY_CLAIM) == family
        ],
        ignore_conflicts=True,
    )


def tokens_refresh(*, refresh: str) -> tuple[User, TokenPair]:
    """Rotate: the old refresh token is revoked, and presenting it again is a 401 that revokes
    every token rotated from the same sign-in."""
    token = _valid_refresh(refresh)
    with transaction.atomic():
        # Lock the token's row so two concurrent refreshes with one token cannot both succeed.
        outstanding = OutstandingToken.objects.select_for_update().filter(jti=token["jti"]).first()
        if outstanding is None or BlacklistedToken.objects.filter(token=outstanding).exists():
            raise AuthenticationFailed("The refresh token is invalid, expired or revoked.")
        user = User.objects.filter(pk=token["user_id"], is_active=True).first()
        if user is None:
            raise AuthenticationFailed("The refresh token is invalid, expired or revoked.")
        BlacklistedToken.objects.create(token=outstanding)
        return user, tokens_issue(user=user, family=token.get(FAMILY_CLAIM, token["jti"]))


def tokens_revoke(*, refresh: str) -> None:
    """Log out: revoke the refresh token. Revoking it twice is harmless."""
    try:
        payload = token_backend.decode(refresh, verify=True)
    except TokenBackendError:
        raise AuthenticationFailed("The refresh token is invalid or expired.") from None
    if payload.get("token_type") != "refresh":
        raise AuthenticationFailed("This is not a refresh token.")
    outstanding = OutstandingToken.objects.filter(jti=payload.get("jti")).first()
    if outstanding is not None:
        BlacklistedToken.objects.get_or_create(token=outstanding)


def refresh_tokens_revoke_all(user: User) -> None:
    open_tokens = OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True)
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in open_tokens], ignore_conflicts=True
    )


def user_password_change(*, user: User, old_password: str, new_password: str) -> TokenPair:
    """Change the password, revoke every refresh token of the user, and start a new session."""
    if not user.check_password(old_password):
        raise ValidationFailed(details={"old_password": ["The current password is wrong."]})
    _check_password(new_password, user, field="new_password")
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        refresh_tokens_revoke_all(user)
        return tokens_issue(user=user)


def user_password_add(*, user: User, password: str) -> None:
    """A first password for an account that has none (made through a provider), checked as any
    new password is."""
    if user.has_usable_password():
        raise Conflict("This account has a password: change it with the current one.")
    _check_password(password, user, field="new_password")
    user_password_set(user=user, password=password)


def user_password_set(*, user: User, password: str) -> None:
    """Set a password allauth has checked (its reset link or its change of password, with its
    strength) and sign every session of the user out: whoever had the old password keeps no
    refresh token."""
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        refresh_tokens_revoke_all(user)


def user_password_reset(*, user: User, password: str) -> None:
    """``user_password_set`` through an emailed reset link (the web app's page; allauth's own
    reset ends in ``unvouched_links_drop`` through its signal)."""
    with transaction.atomic():
        user_password_set(user=user, password=password)
        unvouched_links_drop(user=user)


def unvouched_links_drop(*, user: User) -> None:
    """After a reset link: whoever followed it owns the address, so a provider account linked
    on a claim to it the provider never verified is unlinked. Otherwise someone who signed up
    first through such a provider with another's address keeps a way into the account its
    owner takes back (account pre-hijacking)."""
    for account in SocialAccount.objects.filter(user=user):
        if not _vouches_for(account, user.email):
            account.delete()


def linked_provider(account: SocialAccount) -> Any:
    """The linked account's provider as configured now, or None when settings no longer name
    it."""
    try:
        return account.get_provider()
    except (ObjectDoesNotExist, MultipleObjectsReturned, ImproperlyConfigured):
        return None


def _vouches_for(account: SocialAccount, email: str) -> bool:
    """Whether the provider said, when ``account`` was linked, that ``email`` is its verified
    address."""
    provider = linked_provider(account)
    addresses = provider.extract_email_addresses(account.extra_data) if provider else []
    return any(a.verified and a.email.casefold() == email.casefold() for a in addresses)


def user_profile_update(*, user: User, changes: dict[str, Any]) -> User:
    """Save ``changes`` to ``user``'s profile, once ACCOUNTS_PROFILE_CHECKS accept them (the
    default model: one the catalog has)."""
    unknown = set(changes) - PROFILE_FIELDS
    if unknown:
        raise ValidationFailed(
            details={field: ["This field cannot be changed."] for field in unknown}
        )
    for check in settings.ACCOUNTS_PROFILE_CHECKS:
        import_string(check)(changes=changes)
    for field, value in changes.items():
        setattr(user, field, value)
    user.save(update_fields=[*changes])
    return user


# --- API keys ------------------------------------------------------------------------------------


def hash_api_key(secret: str) -> str:
    # The key has 256 bits of entropy, so a fast hash is safe and keeps each request cheap.
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_create(*, user: User, name: str, scopes: Iterable[str]) -> tuple[ApiKey, str]:
    """Create a key; return it with its secret, which is never stored and never shown again."""
    if user.api_keys.filter(revoked_at__isnull=True).count() >= API_KEYS_PER_USER:
        raise QuotaExceeded(
            f"At most {API_KEYS_PER_USER} active API keys per account.",
            details={"limit": API_KEYS_PER_USER},
        )
    secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        user=user,
        name=name,
        prefix=secret[:API_KEY_DISPLAY_CHARS],
        key_hash=hash_api_key(secret),
        scopes=sorted(set(scopes)),
    )
    return key, secret


def api_key_revoke(*, user: User, key_id: Any) -> None:
    key = get_owned_object(ApiKey.objects.filter(revoked_at__isnull=True), owner=user, pk=key_id)
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def api_key_authenticate(secret: str) -> ApiKey | None:
    """The active key with this secret (its user loaded), or None."""
    key = _active_api_key(hash_api_key(secret))
    if key is None:
        return None
    now = timezone.now()
    stale = key.last_used_at is None or (
        (now - key.last_used_at).total_seconds() > LAST_USED_RESOLUTION_SECONDS
    )
    if stale:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key


def _active_api_key(key_hash: str) -> ApiKey | None:
    """The unrevoked key with ``key_hash`` of an active user, with its user, in one written
    statement: every API call asks, and the ORM spent ~1.5 ms a call compiling this join and
    building the models (a sixth of a search's request, profiled in bench/HISTORY.md)."""
    keys, users = row_reader(ApiKey, "k"), row_reader(User, "u")
    with connection.cursor() as cursor:
        cursor.execute(_api_key_sql(), [key_hash])
        row = cursor.fetchone()
    if row is None:
        return None
    split = len(ApiKey._meta.concrete_fields)
    key = keys.read(row[:split])
    ApiKey.user.field.set_cached_value(key, users.read(row[split:]))
    return key


@functools.cache
def _api_key_sql() -> str:
    return (
        f"SELECT {row_reader(ApiKey, 'k').columns}, {row_reader(User, 'u').columns} "
        f"FROM {ApiKey._meta.db_table} k JOIN {User._meta.db_table} u ON u.id = k.user_id "
        "WHERE k.key_hash = %s AND k.revoked_at IS NULL AND u.is_active LIMIT 1"
    )


# --- Provider keys -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderCredentials:
    """A decrypted provider key: lives in memory only for the request that uses it."""

    provider: str
    api_key: str
    base_url: str

    def __repr__(self) -> str:  # never let a traceback or log print the key
        return f"ProviderCredentials(provider={self.provider!r}, base_url={self.base_url!r})"


def _provider_key_context(user_id: Any, provider: str) -> str:
    return f"provider-key:{user_id}:{provider}"


def provider_key_set(*, user: User, provider: str, api_key: str, base_url: str = "") -> ProviderKey:
    """Store (or replace) the user's key for ``provider``, encrypted under the newest key.
    ``base_url`` may not reach the server's own network unless LLM_ALLOW_LOCAL_BASE_URLS (the
    gateway checks it again, resolved anew, at each request)."""
    if provider == Provider.CUSTOM and not base_url:
        raise ValidationFailed(details={"base_url": ["A custom provider needs its base URL."]})
    if "@" in urlsplit(base_url).netloc:
        # It is stored and shown as it is; a secret belongs in api_key, which is encrypted.
        raise ValidationFailed(
            details={"base_url": ["No user or password in the address: put the key in api_key."]}
        )
    refusal = base_url and not settings.LLM_ALLOW_LOCAL_BASE_URLS and url_refusal(base_url)
    if refusal:
        raise ValidationFailed(
            "This base URL is not allowed.",
            details={"base_url": [f"{refusal} Use an address on the internet or your LAN."]},
        )
    ciphertext = crypto.encrypt(api_key, context=_provider_key_context(user.pk, provider))
    with transaction.atomic():
        # Keys for other providers stored at the same moment count against the same plan limit.
        transaction_lock("accounts.provider_keys", str(user.pk))
        existing = ProviderKey.objects.select_for_update().filter(user=user, provider=provider)
        key = existing.first()
        if key is None:
            used = ProviderKey.objects.filter(user=user).count()
            allowance_required(user, "provider_keys", used=used, what="provider key(s)")
            key = ProviderKey(user=user, provider=provider)
        key.ciphertext = ciphertext
        key.last_four = api_key[-4:]
        key.base_url = base_url
        key.save()
        return key


def provider_key_delete(*, user: User, provider: str) -> None:
    # A name no key is stored under (a typed URL, a NUL byte PostgreSQL's text refuses) is a 404.
    known = provider in Provider.values
    deleted = known and ProviderKey.objects.filter(user=user, provider=provider).delete()[0]
    if not deleted:
        raise NotFound("No key is stored for this provider.")


def provider_credentials(*, user: User, provider: str) -> ProviderCredentials | None:
    """Decrypt the user's own key for ``provider`` for one upstream request, or None."""
    key = ProviderKey.objects.filter(user=user, provider=provider).first()
    if key is None:
        return None
    plaintext = crypto.decrypt(key.ciphertext, context=_provider_key_context(user.pk, provider))
    ProviderKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
    return ProviderCredentials(provider=provider, api_key=plaintext, base_url=key.base_url)


def _reencrypt_in_batches(
    outdated: QuerySet,
    reencrypt: Callable[[Any], None],
    field: str,
    batch_size: int,
    progress: Callable[[int], None] | None,
) -> int:
    """Re-encrypt the rows of ``outdated`` (those not yet under the newest key) batch by batch;
    return how many moved. Safe to re-run and to interrupt: each batch commits on its own, and
    rows already on the newest key are never touched again."""
    moved = 0
    while True:
        with transaction.atomic():
            batch = list(outdated.select_for_update(skip_locked=True).order_by("pk")[:batch_size])
            for row in batch:
                reencrypt(row)
            outdated.model.objects.bulk_update(batch, [field])
        if not batch:
            return moved
        moved += len(batch)
        if progress:
            progress(len(batch))


def _provider_keys_outdated() -> QuerySet[ProviderKey]:
    primary = crypto.key_ring().primary_id
    return ProviderKey.objects.exclude(ciphertext__startswith=f"{primary}:")


def _provider_key_reencrypt(key: ProviderKey) -> None:
    context = _provider_key_context(key.user_id, key.provider)
    plaintext = crypto.decrypt(key.ciphertext, context=context)
    key.ciphertext = crypto.encrypt(plaintext, context=context)


def provider_keys_rotate(
    *, batch_size: int = 200, progress: Callable[[int], None] | None = None
) -> int:
    """Re-encrypt every provider key not yet under the newest key; return how many moved."""
    return _reencrypt_in_batches(
        _provider_keys_outdated(), _provider_key_reencrypt, "ciphertext", batch_size, progress
    )


def provider_keys_pending_rotation() -> int:
    return _provider_keys_outdated().count()


def _mfa_secrets_outdated() -> QuerySet[Authenticator]:
    primary = crypto.key_ring().primary_id
    outdated = Q(pk__in=[])
    for field in MFA_SECRET_FIELDS:
        stored = Q(data__has_key=field)
        outdated |= stored & ~Q(**{f"data__{field}__startswith": f"{primary}:"})
    return Authenticator.objects.filter(outdated)


def _mfa_secret_reencrypt(authenticator: Authenticator) -> None:
    for field in MFA_SECRET_FIELDS:
        if field in authenticator.data:
            plaintext = crypto.decrypt(authenticator.data[field], context=MFA_SECRET_CONTEXT)
            authenticator.data[field] = crypto.encrypt(plaintext, context=MFA_SECRET_CONTEXT)


def mfa_secrets_rotate(
    *, batch_size: int = 200, progress: Callable[[int], None] | None = None
) -> int:
    """Re-encrypt every second-factor secret not yet under the newest key; return how many
    authenticators moved."""
    return _reencrypt_in_batches(
        _mfa_secrets_outdated(), _mfa_secret_reencrypt, "data", batch_size, progress
    )


def mfa_secrets_pending_rotation() -> int:
    return _mfa_secrets_outdated().count()
