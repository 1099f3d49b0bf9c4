"""Plugin packages in the "blobs" storage (the one backups use), and the signed, time-limited
URLs installers download them from.

On S3 the URL is S3's own presigned GET. On the filesystem backend it is our download view
with a token signed by Django (``TimestampSigner``, the SECRET_KEY): the token names the
version and the installer, and the view refuses it once it is older than
``MARKETPLACE_DOWNLOAD_URL_SECONDS`` or when a character of it changed.
"""

import hashlib
import uuid
from collections.abc import Iterator
from typing import IO

from django.conf import settings
from django.core import signing
from django.core.files.storage import FileSystemStorage
from django.urls import reverse

from backups.blobstore import blob_delete, blob_read, blob_sha256, blob_write, blobs
from core.errors import PermissionDenied

CHUNK_BYTES = 64 * 1024
DOWNLOAD_SALT = "marketplace.package-download"


def package_key(*, plugin_slug: str, version: str) -> str:
    """A key of this submission's alone: a failed submission may delete what it stored."""
    return f"marketplace/{plugin_slug}/{version}/{uuid.uuid4().hex}.zip"


def file_sha256(upload: IO[bytes]) -> str:
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in iter(lambda: upload.read(CHUNK_BYTES), b""):
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


def package_store(*, key: str, upload: IO[bytes]) -> None:
    upload.seek(0)
    blob_write(key=key, chunks=iter(lambda: upload.read(CHUNK_BYTES), b""))


def package_delete(*, key: str) -> None:
    blob_delete(key=key)


def package_sha256(*, key: str) -> str:
    """The sha256 of the stored bytes (BlobMissing when there are none)."""
    return blob_sha256(key=key)


def package_chunks(*, key: str) -> Iterator[bytes]:
    return blob_read(key=key)


def download_url(*, key: str, version_id: str, user_id: str) -> str:
    """A URL that serves the package for ``MARKETPLACE_DOWNLOAD_URL_SECONDS``: S3's presigned
    URL, or a path of our download view (the caller makes it absolute)."""
    storage = blobs()
    seconds = settings.MARKETPLACE_DOWNLOAD_URL_SECONDS
    if not isinstance(storage, FileSystemStorage):
        # The client itself: the storage's own url() leaves the signature out, because blobs
        # are stored with querystring_auth off (config/settings.py).
        client = storage.connection.meta.client
        return client.generate_presigned_url(
            "get_object",
            Params={"Bucket": storage.bucket_name, "Key": key},
            ExpiresIn=seconds,
        )
    token = signing.TimestampSigner(salt=DOWNLOAD_SALT).sign_object({"v": version_id, "u": user_id})
    return reverse("marketplace:package-download", kwargs={"token": token})


def download_token_read(token: str) -> tuple[str, str]:
    """``(version id, user id)`` of a download token; PermissionDenied (403) when it expired or
    was tampered with."""
    signer = signing.TimestampSigner(salt=DOWNLOAD_SALT)
    try:
        claims = signer.unsign_object(token, max_age=settings.MARKETPLACE_DOWNLOAD_URL_SECONDS)
    except signing.SignatureExpired:
        raise PermissionDenied(
            "This download link has expired; install again for a new one.",
            details={"token": ["Expired."]},
        ) from None
    except (signing.BadSignature, ValueError, TypeError, UnicodeDecodeError):
        raise PermissionDenied(
            "This download link is not valid.", details={"token": ["Bad signature."]}
        ) from None
    if not isinstance(claims, dict) or not {"v", "u"} <= claims.keys():
        raise PermissionDenied("This download link is not valid.", details={"token": ["Bad."]})
    return str(claims["v"]), str(claims["u"])
