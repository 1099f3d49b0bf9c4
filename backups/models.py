"""What Engram knows about a user's encrypted data: sizes, checksums, times, where the bytes are.

The bytes themselves (ciphertext the client made) live in the "blobs" storage under
``{user_id}/{kind}/{id}``, never in PostgreSQL; each write goes to a key of its own, so a row
always names bytes that were completely written and verified.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from pgvector.django import VectorField

from accounts.models import User

CHECKSUM_LENGTH = 64  # hex SHA-256 of the ciphertext


class StoredBlob(models.Model):
    """What every kind of stored ciphertext has: its owner, size, checksum and storage key."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    size = models.BigIntegerField()
    checksum = models.CharField(max_length=CHECKSUM_LENGTH)
    blob_key = models.CharField(max_length=255, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True


class BackupFields(StoredBlob):
    """What the client says about a backup."""

    version = models.BigIntegerField(help_text="The client's X-Backup-Version.")
    client_timestamp = models.BigIntegerField(help_text="The client's X-Backup-Timestamp.")

    class Meta:
        abstract = True


class EncryptedRecord(StoredBlob):
    """One opaque record of a client-side table (a row the client encrypted)."""

    table = models.CharField(max_length=64)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "encrypted record"
        indexes = [
            models.Index(fields=["user", "table", "created_at"], name="backups_record_user_table"),
            models.Index(fields=["user", "created_at"], name="backups_record_user_created"),
        ]

    def __str__(self) -> str:
        return f"{self.table} record {self.pk}"


class EncryptedVector(StoredBlob):
    """A vector the client computed (and rotated) with its encrypted payload.

    ``key`` is the client's own id. All of a user's vectors share one dimension.
    """

    key = models.CharField(max_length=200)
    table = models.CharField(max_length=64, blank=True, default="")
    dimensions = models.PositiveSmallIntegerField()
    embedding = VectorField()
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "encrypted vector"
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="backups_vector_user_key"),
        ]
        indexes = [models.Index(fields=["user", "table"], name="backups_vector_user_table")]

    def __str__(self) -> str:
        return f"vector {self.key}"


class Backup(BackupFields):
    """One complete, verified backup of a client's local data."""

    # The parts it was uploaded in: 1 for a whole PUT, the part count of a resumable upload
    # (the cloud design's BackupMetadata.chunk_count).
    chunk_count = models.PositiveIntegerField(default=1)

    class Meta:
        indexes = [models.Index(fields=["user", "created_at"], name="backups_backup_user_created")]

    def __str__(self) -> str:
        return f"backup {self.pk} (version {self.version})"


class BackupUpload(BackupFields):
    """A backup being uploaded in parts; it becomes a Backup when completed. Its ``size`` is
    declared at the start (and counts against the quota until then)."""

    part_size = models.BigIntegerField()
    # The storage's own handle of the multipart upload (S3's UploadId; empty on the filesystem).
    storage_upload_id = models.CharField(max_length=1024, blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["user", "created_at"], name="backups_upload_user_created")]

    def __str__(self) -> str:
        return f"upload {self.pk}"

    @property
    def part_count(self) -> int:
        return max(1, -(-self.size // self.part_size))

    def part_length(self, number: int) -> int:
        """Bytes part ``number`` (1-based) must have: all are part_size but the last."""
        if number < self.part_count:
            return self.part_size
        return self.size - self.part_size * (self.part_count - 1)


class BackupUploadPart(models.Model):
    """One received, verified part of a resumable upload."""

    upload = models.ForeignKey(BackupUpload, on_delete=models.CASCADE, related_name="parts")
    number = models.PositiveIntegerField()
    size = models.BigIntegerField()
    checksum = models.CharField(max_length=CHECKSUM_LENGTH)
    # What the storage returned for the part (S3's ETag), needed to complete the upload.
    storage_tag = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["upload", "number"], name="backups_part_upload_number"),
        ]

    def __str__(self) -> str:
        return f"part {self.number} of upload {self.upload_id}"


class StorageAccount(User):
    """A user as the storage admin lists them: counts and bytes of what they store."""

    class Meta:
        proxy = True
        verbose_name = "storage per user"
        verbose_name_plural = "storage per user"
