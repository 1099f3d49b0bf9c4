"""What every upload shares: the user's share of open uploads, the quota check, and the body,
counted and hashed as it streams."""

import hashlib
import hmac
import re
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from django.conf import settings

from accounts.models import User
from backups.blobstore import CHUNK_BYTES
from backups.errors import ChecksumMismatch
from backups.selectors import StorageAllowance, storage_used
from billing.tiers import allowance
from core.db import transaction_lock
from core.errors import PayloadTooLarge, QuotaExceeded, RateLimited, ValidationFailed
from core.metrics import STREAMS_OPEN

CHECKSUM_PATTERN = re.compile(r"^[0-9a-f]{64}$")
# How a refusal names each allowance to the user.
ALLOWANCE_LABELS = {"cloud_storage_bytes": "cloud storage", "backup_bytes": "backups"}


_uploads_open: Counter = Counter()  # user id -> raw uploads this process is receiving
_uploads_lock = threading.Lock()


@contextmanager
def upload_slot_hold(*, user: User) -> Iterator[None]:
    """One of ``user``'s STORAGE_UPLOADS_PER_USER raw uploads open at once in this process,
    held for the block; RateLimited (429) when all are taken. An upload ties up a thread and a
    socket for as long as its client takes to send it, so one user cannot hold them all."""
    limit = settings.STORAGE_UPLOADS_PER_USER
    with _uploads_lock:
        if _uploads_open[user.pk] >= limit:
            raise RateLimited(
                f"At most {limit} uploads may be open at once; send this one when another ends.",
                details={"open_uploads_limit": limit},
            )
        _uploads_open[user.pk] += 1
    STREAMS_OPEN.labels(kind="upload").inc()
    try:
        yield
    finally:
        STREAMS_OPEN.labels(kind="upload").dec()
        with _uploads_lock:
            _uploads_open[user.pk] -= 1
            if not _uploads_open[user.pk]:
                del _uploads_open[user.pk]


def checksum_valid(checksum: str, *, field: str) -> str:
    """The client's checksum: hex SHA-256 of the ciphertext, lower-case."""
    value = (checksum or "").strip().lower()
    if not CHECKSUM_PATTERN.match(value):
        raise ValidationFailed(
            "The checksum must be the SHA-256 of the body, as 64 hex characters.",
            details={field: ["Expected 64 hex characters (SHA-256)."]},
        )
    return value


def quota_room(
    *, user: User, kind: StorageAllowance, adding: int, freeing: int = 0
) -> tuple[int, int | None]:
    """Bytes ``user`` stores under the ``kind`` allowance (less ``freeing``, bytes this write
    replaces) and may still store there (None: unlimited); QuotaExceeded if ``adding`` more do
    not fit."""
    used = storage_used(user=user, allowance=kind) - freeing
    answer = allowance(user, kind, used=used, adding=adding)
    if not answer.allowed:
        raise quota_exceeded(kind=kind, limit=answer.limit, used=used, requested=adding)
    return used, answer.remaining


def quota_exceeded(
    *, kind: StorageAllowance, limit: int | None, used: int, requested: int
) -> QuotaExceeded:
    return QuotaExceeded(
        f"Your plan's {ALLOWANCE_LABELS[kind]} allowance is {limit} bytes; {used} are used and "
        f"this upload needs {requested}.",
        details={
            "allowance": kind,
            "limit_bytes": limit,
            "used_bytes": used,
            "requested_bytes": requested,
        },
    )


def lock_user_storage(user: User) -> None:
    """Serialise the final quota check and write of one user's concurrent uploads (held until
    the transaction ends)."""
    transaction_lock("backups.storage", str(user.pk))


class VerifiedBody:
    """A request body as chunks: counted against ``allowed`` bytes (quota and size limit) and
    hashed as they pass; after the last chunk the SHA-256 is compared with ``checksum`` in
    constant time, and a mismatch raises ChecksumMismatch before the consumer can finish."""

    def __init__(
        self,
        source: BinaryIO,
        *,
        user: User,
        kind: StorageAllowance,
        checksum: str,
        declared: int | None,
        used: int,
        quota: int | None,
    ) -> None:
        self.source = source
        self.user = user
        self.kind = kind
        self.checksum = checksum
        self.declared = declared
        self.used = used
        self.quota = quota
        self.size = 0

    def _refuse(self) -> Exception:
        if self.size > settings.STORAGE_MAX_UPLOAD_BYTES:
            limit = settings.STORAGE_MAX_UPLOAD_BYTES
            return PayloadTooLarge(
                f"An upload may have at most {limit} bytes.", details={"limit_bytes": limit}
            )
        return quota_exceeded(
            kind=self.kind, limit=self.used + self.quota, used=self.used, requested=self.size
        )

    def __iter__(self) -> Iterator[bytes]:
        digest = hashlib.sha256()
        allowed = settings.STORAGE_MAX_UPLOAD_BYTES
        if self.quota is not None:
            allowed = min(allowed, self.quota)
        while chunk := self.source.read(CHUNK_BYTES):
            self.size += len(chunk)
            if self.size > allowed:
                raise self._refuse()
            digest.update(chunk)
            yield chunk
        if self.declared is not None and self.size != self.declared:
            raise ValidationFailed(
                "The body ended before its Content-Length.",
                details={"body": [f"Received {self.size} of {self.declared} bytes."]},
            )
        if not hmac.compare_digest(digest.hexdigest(), self.checksum):
            raise ChecksumMismatch(details={"checksum": self.checksum, "size": self.size})


def upload_body(
    *,
    user: User,
    kind: StorageAllowance,
    source: BinaryIO,
    checksum: str,
    declared: int | None,
    freeing: int = 0,
) -> VerifiedBody:
    """Check what the client declared (size limit, quota) before a byte is read, and return the
    body to stream to storage."""
    if declared is not None and declared > settings.STORAGE_MAX_UPLOAD_BYTES:
        limit = settings.STORAGE_MAX_UPLOAD_BYTES
        raise PayloadTooLarge(
            f"An upload may have at most {limit} bytes.", details={"limit_bytes": limit}
        )
    used, remaining = quota_room(user=user, kind=kind, adding=declared or 0, freeing=freeing)
    return VerifiedBody(
        source,
        user=user,
        kind=kind,
        checksum=checksum,
        declared=declared,
        used=used,
        quota=remaining,
    )


def quota_recheck(*, user: User, kind: StorageAllowance, size: int, freeing: int = 0) -> None:
    """The last word, under the user's lock: concurrent uploads may have used the room."""
    quota_room(user=user, kind=kind, adding=size, freeing=freeing)
