"""The connect handshake (docs/extension.md): a client asks, a signed-in user approves, the
client collects a scoped API key once.

1. ``connect_request_create``: the client gets a request id, a short user code and a poll secret.
2. The user opens the approval page, signed in, sees the same code and approves (or denies).
3. ``connect_token_collect``: the client polls with its secret; once approved, the first poll
   makes the key and returns it; every later poll is a 404. Requests expire after
   ``CONNECT_REQUEST_TTL``.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import ApiKey, ApiScope, User
from accounts.services import api_key_create, api_key_revoke
from connect.models import ConnectRequest, ConnectStatus
from core.errors import EngramError, NotFound, PermissionDenied

CONNECT_REQUEST_TTL = timedelta(minutes=10)
POLL_INTERVAL_SECONDS = 2
# What a connected extension may do: capture and recall memories, nothing else.
CONNECT_SCOPES = (ApiScope.MEMORIES_READ, ApiScope.MEMORIES_WRITE)
# No 0/O, 1/I/L, 5/S, 2/Z, 8/B: a code read off one screen and compared on another.
CODE_ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
KEEP_EXPIRED = timedelta(days=1)
NO_PENDING_REQUEST = "No connect request is waiting with this code; it may have expired."


class ConnectExpired(EngramError):
    status_code = 410
    code = "CONNECT_EXPIRED"
    default_message = "This connect request has expired: start again from the extension."


@dataclass(frozen=True)
class NewConnectRequest:
    request: ConnectRequest
    poll_secret: str  # shown to the client once, never stored


@dataclass(frozen=True)
class CollectedKey:
    status: str  # "pending" or "approved"
    request: ConnectRequest
    secret: str | None = None  # the API key, on the one poll that collects it


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _user_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))
    return f"{raw[:4]}-{raw[4:]}"


def normalize_user_code(code: str) -> str:
    """What the user typed, as stored: upper case, the dash where it belongs."""
    raw = "".join(ch for ch in code.upper() if ch.isalnum())
    return f"{raw[:4]}-{raw[4:]}" if len(raw) == 8 else ""


def connect_request_create(*, client_name: str) -> NewConnectRequest:
    """A pending request with a fresh user code; expired ones older than a day are dropped."""
    now = timezone.now()
    ConnectRequest.objects.filter(expires_at__lt=now - KEEP_EXPIRED).delete()
    poll_secret = secrets.token_urlsafe(32)
    for _ in range(5):  # a clash of codes is rare; try a new one
        try:
            with transaction.atomic():
                request = ConnectRequest.objects.create(
                    user_code=_user_code(),
                    poll_secret_hash=_hash(poll_secret),
                    client_name=client_name,
                    expires_at=now + CONNECT_REQUEST_TTL,
                )
            return NewConnectRequest(request=request, poll_secret=poll_secret)
        except IntegrityError:
            continue
    raise EngramError("Could not allocate a user code; try again.")  # pragma: no cover


def connect_request_pending(*, user_code: str) -> ConnectRequest | None:
    """The pending, unexpired request with this code (as typed), or None."""
    code = normalize_user_code(user_code)
    if not code:
        return None
    return ConnectRequest.objects.filter(
        user_code=code, status=ConnectStatus.PENDING, expires_at__gt=timezone.now()
    ).first()


def connect_request_decide(*, user: User, user_code: str, approve: bool) -> ConnectRequest:
    """The signed-in ``user`` approves (or denies) the pending request with this code."""
    code = normalize_user_code(user_code)
    decided = ConnectRequest.objects.filter(
        user_code=code, status=ConnectStatus.PENDING, expires_at__gt=timezone.now()
    ).update(
        status=ConnectStatus.APPROVED if approve else ConnectStatus.DENIED,
        user=user if approve else None,
    )
    if not decided:
        raise NotFound(NO_PENDING_REQUEST)
    return ConnectRequest.objects.get(user_code=code)


def connect_token_collect(*, request_id, poll_secret: str) -> CollectedKey:
    """Where the request stands for the client holding ``poll_secret``; the poll that finds it
    approved gets the new key, exactly once (the status moves to delivered in the same
    transaction). Unknown, delivered, or a wrong secret: NotFound (the same answer for each)."""
    with transaction.atomic():
        request = (
            ConnectRequest.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(pk=request_id)
            .first()
        )
        if request is None or not hmac.compare_digest(request.poll_secret_hash, _hash(poll_secret)):
            raise NotFound("No connect request with this id and secret.")
        if request.status == ConnectStatus.DELIVERED:
            raise NotFound("No connect request with this id and secret.")
        if request.status == ConnectStatus.DENIED:
            raise PermissionDenied("The connect request was denied.", code="CONNECT_DENIED")
        if request.expires_at <= timezone.now():
            raise ConnectExpired()
        if request.status == ConnectStatus.PENDING:
            return CollectedKey(status="pending", request=request)
        key, secret = api_key_create(
            user=request.user, name=_key_name(request.client_name), scopes=CONNECT_SCOPES
        )
        request.status, request.api_key = ConnectStatus.DELIVERED, key
        request.save(update_fields=["status", "api_key"])
        return CollectedKey(status="approved", request=request, secret=secret)


def _key_name(client_name: str) -> str:
    return f"{client_name} (connected {timezone.now():%Y-%m-%d})"[:100]


def connect_disconnect(*, key: ApiKey) -> None:
    """Revoke the key the client calls with: its next call is a 401."""
    api_key_revoke(user=key.user, key_id=key.pk)


def expires_in(request: ConnectRequest, now: datetime | None = None) -> int:
    return max(0, int((request.expires_at - (now or timezone.now())).total_seconds()))
