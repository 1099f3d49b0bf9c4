"""Backups: one streamed PUT, or a resumable upload in parts; deletion and retention."""

import uuid
from datetime import timedelta
from typing import Any, BinaryIO

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from backups import blobstore
from backups.errors import ChecksumMismatch
from backups.models import Backup, BackupUpload, BackupUploadPart
from backups.selectors import BACKUPS, backup_get, backup_upload_get, backups_beyond_keep
from backups.services.upload import (
    checksum_valid,
    lock_user_storage,
    quota_recheck,
    quota_room,
    upload_body,
)
from backups.services.vectors import vector_indexes_drop_stale
from core.errors import ValidationFailed


def _blob_key(user: User) -> str:
    return f"{user.pk}/backups/{uuid.uuid4()}"


def backup_put(
    *,
    user: User,
    body: BinaryIO,
    length: int | None,
    version: int,
    client_timestamp: int,
    checksum: str,
) -> Backup:
    """Stream a whole backup to storage, verifying ``checksum`` as it passes; a torn body, a
    mismatch or the quota running out leaves nothing behind."""
    checksum = checksum_valid(checksum, field="X-Backup-Checksum")
    verified = upload_body(user=user, kind=BACKUPS, source=body, checksum=checksum, declared=length)
    key = _blob_key(user)
    blobstore.blob_write(key=key, chunks=verified)
    try:
        with transaction.atomic():
            lock_user_storage(user)
            quota_recheck(user=user, kind=BACKUPS, size=verified.size)
            return Backup.objects.create(
                user=user, version=version, client_timestamp=client_timestamp,
                size=verified.size, checksum=checksum, blob_key=key,
            )  # fmt: skip
    except BaseException:
        blobstore.blob_delete(key=key)
        raise


def backup_upload_start(
    *, user: User, version: int, client_timestamp: int, size: int, checksum: str
) -> BackupUpload:
    """Open a resumable upload of ``size`` bytes; its room in the quota is reserved until it is
    completed or aborted. Parts are BACKUP_PART_BYTES long, the last one shorter."""
    checksum = checksum_valid(checksum, field="checksum")
    with transaction.atomic():
        lock_user_storage(user)
        quota_room(user=user, kind=BACKUPS, adding=size)
        key = _blob_key(user)
        return BackupUpload.objects.create(
            user=user, version=version, client_timestamp=client_timestamp, size=size,
            checksum=checksum, part_size=settings.BACKUP_PART_BYTES, blob_key=key,
            storage_upload_id=blobstore.multipart_start(key=key),
        )  # fmt: skip


def backup_part_put(
    *,
    user: User,
    upload_id: Any,
    number: int,
    body: BinaryIO,
    length: int | None,
    checksum: str,
) -> BackupUploadPart:
    """Store part ``number`` of an upload (again, if it was sent before): it must have the
    part's exact length and hash to ``checksum``."""
    upload = backup_upload_get(user=user, upload_id=upload_id)
    if not 1 <= number <= upload.part_count:
        raise ValidationFailed(
            f"This upload has parts 1 to {upload.part_count}.",
            details={"number": [f"Between 1 and {upload.part_count}."]},
        )
    expected = upload.part_length(number)
    if length is not None and length != expected:
        raise ValidationFailed(
            f"Part {number} has {expected} bytes.",
            details={"Content-Length": [f"Part {number} must have {expected} bytes."]},
        )
    checksum = checksum_valid(checksum, field="X-Part-Checksum")
    # The part's room was reserved when the upload started.
    verified = upload_body(
        user=user, kind=BACKUPS, source=body, checksum=checksum, declared=expected, freeing=expected
    )
    tag = blobstore.multipart_put(
        key=upload.blob_key, upload_id=upload.storage_upload_id, number=number, chunks=verified
    )
    part, _ = BackupUploadPart.objects.update_or_create(
        upload=upload, number=number,
        defaults={"size": verified.size, "checksum": checksum, "storage_tag": tag},
    )  # fmt: skip
    return part


def backup_upload_complete(*, user: User, upload_id: Any) -> Backup:
    """Join the parts into a backup and verify the whole against the upload's checksum. A
    mismatch deletes the joined bytes and the upload (start again); missing parts are a 400
    naming them."""
    upload = backup_upload_get(user=user, upload_id=upload_id)
    parts = {part.number: part for part in upload.parts.all()}
    missing = [n for n in range(1, upload.part_count + 1) if n not in parts]
    if missing:
        raise ValidationFailed(
            "Some parts have not been uploaded.", details={"missing_parts": missing[:1000]}
        )
    digest = blobstore.multipart_complete(
        key=upload.blob_key,
        upload_id=upload.storage_upload_id,
        tags=[(n, parts[n].storage_tag) for n in sorted(parts)],
    )
    try:
        if digest != upload.checksum:
            raise ChecksumMismatch(details={"checksum": upload.checksum})
        with transaction.atomic():
            lock_user_storage(user)
            backup = Backup.objects.create(
                user=user, version=upload.version, client_timestamp=upload.client_timestamp,
                size=upload.size, checksum=upload.checksum, blob_key=upload.blob_key,
                chunk_count=upload.part_count,
            )  # fmt: skip
            upload.delete()
            return backup
    except BaseException:
        blobstore.blob_delete(key=upload.blob_key)
        BackupUpload.objects.filter(pk=upload.pk).delete()
        raise


def backup_upload_abort(*, user: User, upload_id: Any) -> None:
    upload = backup_upload_get(user=user, upload_id=upload_id)
    _upload_drop(upload)


def _upload_drop(upload: BackupUpload) -> None:
    blobstore.multipart_abort(key=upload.blob_key, upload_id=upload.storage_upload_id)
    upload.delete()


def backup_delete(*, user: User, backup_id: Any) -> None:
    backup = backup_get(user=user, backup_id=backup_id)
    with transaction.atomic():
        Backup.objects.filter(pk=backup.pk).delete()
        transaction.on_commit(lambda: blobstore.blob_delete(key=backup.blob_key))


def backups_prune(*, keep: int, upload_expiry: timedelta) -> tuple[int, int]:
    """Delete every backup beyond its owner's ``keep`` newest, and resumable uploads older than
    ``upload_expiry``. Safe to run twice: what is gone is not selected again. Returns
    (backups, uploads) deleted."""
    pruned = 0
    for backup in backups_beyond_keep(keep=keep):
        with transaction.atomic():
            if Backup.objects.filter(pk=backup.pk).delete()[0]:
                pruned += 1
                transaction.on_commit(lambda key=backup.blob_key: blobstore.blob_delete(key=key))
    stale = BackupUpload.objects.filter(created_at__lt=timezone.now() - upload_expiry)
    expired = 0
    for upload in stale:
        _upload_drop(upload)
        expired += 1
    return pruned, expired


def storage_orphans_sweep(*, older_than: timedelta) -> list[str]:
    """Remove the leftovers of interrupted writes (``.partial`` files, multipart parts, S3
    multipart uploads) older than ``older_than`` that no open resumable upload owns. Safe to
    run twice, and beside running uploads: a write in progress is younger. Returns what went."""
    uploading = set(BackupUpload.objects.values_list("blob_key", flat=True))
    return blobstore.orphans_sweep(older_than=timezone.now() - older_than, uploading=uploading)


def storage_user_purge(*, user_id: Any) -> None:
    """Delete every blob stored for ``user_id`` and their vector indexes (their rows go with
    the user)."""
    blobstore.blobs_delete_prefix(prefix=str(user_id))
    vector_indexes_drop_stale(user_id=user_id)
