"""The leftovers of interrupted writes (.partial files, multipart parts, S3 multipart uploads)
are swept once older than STORAGE_ORPHAN_HOURS, on the filesystem and on S3 (moto, local);
what an open resumable upload owns, and what is younger, stays."""

import os
import time

import pytest
from django.core.files.storage import storages
from django.core.management import call_command

from backups import blobstore
from backups.models import BackupUpload
from backups.tasks import storage_prune
from backups.tests.conftest import make_user
from testing.s3 import local_s3

pytestmark = pytest.mark.django_db
DAY = 24 * 3600


def open_upload(user, key: str, storage_upload_id: str = "") -> BackupUpload:
    return BackupUpload.objects.create(
        user=user, version=1, client_timestamp=1, size=10, checksum="0" * 64,
        part_size=5, blob_key=key, storage_upload_id=storage_upload_id,
    )  # fmt: skip


def age(path, seconds: float) -> None:
    """Back-date ``path`` (and what it holds) by ``seconds``."""
    then = time.time() - seconds
    for each in [path, *path.rglob("*")] if path.is_dir() else [path]:
        os.utime(each, (then, then))


def test_filesystem_leftovers_older_than_the_setting_are_swept(local_blobs, settings, capsys):
    settings.STORAGE_ORPHAN_HOURS = 1
    user = make_user()
    folder = local_blobs / str(user.pk) / "backups"
    folder.mkdir(parents=True)
    old_partial = folder / ".abc.x1.partial"
    young_partial = folder / ".def.x2.partial"
    abandoned = folder / "gone.parts"
    open_parts = folder / "open.parts"
    for parts in (abandoned, open_parts):
        parts.mkdir()
        (parts / "1").write_bytes(b"ciphertext part")
    old_partial.write_bytes(b"half a write")
    young_partial.write_bytes(b"a write going on")
    kept_blob = folder / "complete"
    kept_blob.write_bytes(b"a finished blob")
    for path in (old_partial, abandoned, open_parts, kept_blob):
        age(path, 2 * 3600)
    open_upload(user, f"{user.pk}/backups/open")

    call_command("verify_backups", "--sweep")

    assert not old_partial.exists() and not abandoned.exists()
    assert young_partial.exists() and open_parts.exists() and kept_blob.exists()
    assert "2 leftovers of interrupted writes removed." in capsys.readouterr().out
    storage_prune()  # the periodic task sweeps the same way; twice is harmless
    assert young_partial.exists() and open_parts.exists()


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with local_s3(tmp_path_factory.mktemp("s3") / "moto.log") as server:
        yield server


def test_s3_multipart_uploads_no_upload_owns_are_aborted(s3, settings):
    settings.STORAGES = {**settings.STORAGES, "blobs": s3.storage_setting}
    storage = storages["blobs"]
    client, bucket = storage.connection.meta.client, storage.bucket_name
    user = make_user()
    abandoned = blobstore.multipart_start(key=f"{user.pk}/backups/gone")
    client.upload_part(
        Bucket=bucket, Key=f"{user.pk}/backups/gone", UploadId=abandoned, PartNumber=1, Body=b"x"
    )
    owned_key = f"{user.pk}/backups/open"
    open_upload(user, owned_key, blobstore.multipart_start(key=owned_key))

    def pending() -> set[str]:
        return {u["Key"] for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])}

    assert pending() == {f"{user.pk}/backups/gone", owned_key}

    # moto dates every multipart upload in 2010, so only the filesystem test can show that a
    # young leftover stays; here both are old, and only the one no upload owns goes.
    storage_prune()
    assert pending() == {owned_key}
    blobstore.multipart_abort(key=owned_key, upload_id=BackupUpload.objects.get().storage_upload_id)
