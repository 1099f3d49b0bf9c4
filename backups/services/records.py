"""Encrypted records: create, replace (optimistic concurrency with If-Match), delete."""

import uuid
from typing import Any, BinaryIO

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from backups.blobstore import blob_delete, blob_write
from backups.errors import PreconditionFailed
from backups.models import EncryptedRecord
from backups.selectors import CLOUD_STORAGE, record_get
from backups.services.upload import checksum_valid, lock_user_storage, quota_recheck, upload_body
from core.errors import NotFound, ValidationFailed

TABLE_MAX_LENGTH = 64


def record_etag(record: EncryptedRecord) -> str:
    """A strong ETag: the ciphertext's checksum (a new write always makes a new ciphertext)."""
    return f'"{record.checksum}"'


def etag_matches(header: str, record: EncryptedRecord) -> bool:
    """Does an If-Match / If-None-Match header name the record's current version?"""
    tags = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return "*" in tags or record_etag(record) in tags


def _table_valid(table: str) -> str:
    if not table or len(table) > TABLE_MAX_LENGTH:
        raise ValidationFailed(
            "Name the table the record belongs to (1-64 characters).",
            details={"table": [f"Required, at most {TABLE_MAX_LENGTH} characters."]},
        )
    return table


def _blob_key(user: User) -> str:
    return f"{user.pk}/records/{uuid.uuid4()}"


def record_create(
    *, user: User, table: str, body: BinaryIO, checksum: str, length: int | None
) -> EncryptedRecord:
    """Stream ``body`` to storage, verify it hashes to ``checksum``, then record it.

    Quota and size are checked from ``length`` before a byte is read, and again while
    streaming; any failure (checksum, quota, a torn body) leaves nothing stored.
    """
    table = _table_valid(table)
    checksum = checksum_valid(checksum, field="checksum")
    verified = upload_body(
        user=user, kind=CLOUD_STORAGE, source=body, checksum=checksum, declared=length
    )
    key = _blob_key(user)
    blob_write(key=key, chunks=verified)
    try:
        with transaction.atomic():
            lock_user_storage(user)
            quota_recheck(user=user, kind=CLOUD_STORAGE, size=verified.size)
            return EncryptedRecord.objects.create(
                user=user, table=table, size=verified.size, checksum=checksum, blob_key=key
            )
    except BaseException:
        blob_delete(key=key)
        raise


def record_replace(
    *,
    user: User,
    record_id: Any,
    body: BinaryIO,
    checksum: str,
    length: int | None,
    if_match: str | None,
) -> EncryptedRecord:
    """Replace a record's bytes. With ``if_match``, only if the record is still at that version
    (checked before the body is read and again when the new version is committed): otherwise
    PreconditionFailed (412) and the record is untouched."""
    record = record_get(user=user, record_id=record_id)
    if if_match is not None and not etag_matches(if_match, record):
        raise PreconditionFailed(details={"current_etag": record_etag(record)})
    checksum = checksum_valid(checksum, field="checksum")
    verified = upload_body(
        user=user,
        kind=CLOUD_STORAGE,
        source=body,
        checksum=checksum,
        declared=length,
        freeing=record.size,
    )
    key = _blob_key(user)
    blob_write(key=key, chunks=verified)
    try:
        with transaction.atomic():
            lock_user_storage(user)
            current = EncryptedRecord.objects.select_for_update().filter(pk=record.pk).first()
            if current is None:
                raise NotFound("No encrypted record with this id.")
            if if_match is not None and not etag_matches(if_match, current):
                raise PreconditionFailed(details={"current_etag": record_etag(current)})
            quota_recheck(user=user, kind=CLOUD_STORAGE, size=verified.size, freeing=current.size)
            old_key = current.blob_key
            current.blob_key, current.size, current.checksum = key, verified.size, checksum
            current.updated_at = timezone.now()
            current.save(update_fields=["blob_key", "size", "checksum", "updated_at"])
            transaction.on_commit(lambda: blob_delete(key=old_key))
            return current
    except BaseException:
        blob_delete(key=key)
        raise


def record_delete(*, user: User, record_id: Any) -> None:
    """Delete the record if it is the user's; deleting again (or a stranger's id) does nothing."""
    try:
        record_pk = uuid.UUID(str(record_id))
    except ValueError:
        return
    with transaction.atomic():
        record = EncryptedRecord.objects.select_for_update().filter(user=user, pk=record_pk).first()
        if record is None:
            return
        record.delete()
        transaction.on_commit(lambda: blob_delete(key=record.blob_key))
