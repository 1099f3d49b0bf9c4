"""The bytes of records, vectors and backups, in the "blobs" storage (settings.STORAGES).

The one module that knows the storage backends apart: Django's FileSystemStorage (the default,
under STORAGE_ROOT) and django-storages' S3Storage (any S3-compatible store), whose boto3 client
is used for multipart uploads; the only place botocore's errors are caught (a failing storage
is a 503). Everything is streamed: writes take an iterable of chunks and keep at most one S3
part (S3_PART_BYTES) in memory; reads yield chunks of CHUNK_BYTES. A write that fails half-way
(an exception from the chunks, a checksum that does not match) leaves nothing behind.
"""

import contextlib
import functools
import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Container, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from botocore.exceptions import BotoCoreError, ClientError
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.http import UnreadablePostError

from backups.errors import StorageUnavailable

logger = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")

CHUNK_BYTES = 1024 * 1024
# Parts of the multipart uploads a single streamed write makes on S3 (S3's minimum is 5 MiB).
S3_PART_BYTES = 8 * 1024 * 1024
S3_PARALLEL_READS = 8


class BlobMissing(Exception):
    """The storage has no bytes under this key."""


def _storage_errors(function: Callable[P, R]) -> Callable[P, R]:
    """The storage failing (S3 unreachable or refusing, a full or unwritable disk) is a 503
    the client may retry, not a 500; what the request's own body raises passes through."""

    @functools.wraps(function)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except (BotoCoreError, ClientError) as exc:
            logger.warning("Blob storage failed in %s: %s", function.__name__, exc)
            raise StorageUnavailable() from exc
        except OSError as exc:
            if isinstance(exc, UnreadablePostError):
                raise
            logger.warning("Blob storage failed in %s: %s", function.__name__, exc)
            raise StorageUnavailable() from exc

    return guarded


def blobs() -> Storage:
    return storages["blobs"]


def _on_filesystem(storage: Storage) -> bool:
    return isinstance(storage, FileSystemStorage)


def _s3(storage: Storage):
    return storage.connection.meta.client, storage.bucket_name


def _fs_path(storage: Storage, key: str) -> Path:
    return Path(storage.path(key))


def _fs_write(path: Path, chunks: Iterable[bytes]) -> None:
    # Written beside its final name and renamed: no reader ever sees half a file.
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(handle, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


@_storage_errors
def blob_write(*, key: str, chunks: Iterable[bytes]) -> None:
    """Store the bytes of ``chunks`` under ``key``; on any exception nothing is stored."""
    storage = blobs()
    if _on_filesystem(storage):
        _fs_write(_fs_path(storage, key), chunks)
        return
    client, bucket = _s3(storage)
    buffer = bytearray()
    upload_id = None
    parts: list[dict] = []

    def send_part(data: bytes) -> None:
        number = len(parts) + 1
        answer = client.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
        )
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    try:
        for chunk in chunks:
            buffer += chunk
            while len(buffer) >= S3_PART_BYTES:
                if upload_id is None:
                    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
                send_part(bytes(buffer[:S3_PART_BYTES]))
                del buffer[:S3_PART_BYTES]
        if upload_id is None:
            client.put_object(Bucket=bucket, Key=key, Body=bytes(buffer))
            return
        if buffer:
            send_part(bytes(buffer))
        client.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    except BaseException:
        if upload_id is not None:
            client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise


@_storage_errors
def blob_read(*, key: str) -> Iterator[bytes]:
    """The bytes under ``key``, chunk by chunk; BlobMissing before the first if there are none."""
    storage = blobs()
    if _on_filesystem(storage):
        try:
            source = _fs_path(storage, key).open("rb")
        except FileNotFoundError:
            raise BlobMissing(key) from None
        return _file_chunks(source)
    client, bucket = _s3(storage)
    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
    except client.exceptions.NoSuchKey:
        raise BlobMissing(key) from None
    return _s3_chunks(body)


def _file_chunks(source) -> Iterator[bytes]:
    with source:
        while chunk := source.read(CHUNK_BYTES):
            yield chunk


def _s3_chunks(body) -> Iterator[bytes]:
    with contextlib.closing(body):
        yield from body.iter_chunks(CHUNK_BYTES)


def blob_bytes(*, key: str) -> bytes:
    """The whole of a small blob (a vector's payload)."""
    return b"".join(blob_read(key=key))


@_storage_errors
def blobs_bytes(*, keys: list[str]) -> list[bytes]:
    """Several small blobs, in order; on S3 fetched side by side (one request each), through
    this thread's client (boto3 clients are thread-safe; a new one per thread costs more)."""
    storage = blobs()
    if _on_filesystem(storage) or len(keys) < 2:
        return [blob_bytes(key=key) for key in keys]
    client, bucket = _s3(storage)

    def fetch(key: str) -> bytes:
        try:
            body = client.get_object(Bucket=bucket, Key=key)["Body"]
        except client.exceptions.NoSuchKey:
            raise BlobMissing(key) from None
        with contextlib.closing(body):
            return body.read()

    with ThreadPoolExecutor(max_workers=S3_PARALLEL_READS) as readers:
        return list(readers.map(fetch, keys))


async def blob_stream(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """``blob_read``'s chunks for an ASGI response: each read in a thread, never all at once."""
    done = object()
    try:
        while (
            chunk := await sync_to_async(next, thread_sensitive=False)(chunks, done)
        ) is not done:
            yield chunk
    finally:
        await sync_to_async(chunks.close, thread_sensitive=False)()


def blob_sha256(*, key: str) -> str:
    digest = hashlib.sha256()
    for chunk in blob_read(key=key):
        digest.update(chunk)
    return digest.hexdigest()


def blob_exists(*, key: str) -> bool:
    return blobs().exists(key)


@_storage_errors
def blob_delete(*, key: str) -> None:
    """Remove ``key``'s bytes; nothing there is fine."""
    storage = blobs()
    if _on_filesystem(storage):
        _fs_path(storage, key).unlink(missing_ok=True)
        return
    client, bucket = _s3(storage)
    client.delete_object(Bucket=bucket, Key=key)


@_storage_errors
def blobs_delete_prefix(*, prefix: str) -> None:
    """Remove every blob (and unfinished multipart upload) whose key starts with ``prefix/``."""
    storage = blobs()
    if _on_filesystem(storage):
        shutil.rmtree(_fs_path(storage, prefix), ignore_errors=True)
        return
    client, bucket = _s3(storage)
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix + "/"
    ):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
    uploads = client.list_multipart_uploads(Bucket=bucket, Prefix=prefix + "/").get("Uploads", [])
    for upload in uploads:
        client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])


# --- Resumable multipart uploads -----------------------------------------------------------------
# On S3 the parts are S3 multipart parts of the final key; on the filesystem each part is a file
# of its own, concatenated into the final key at completion.


def _part_key(key: str, number: int) -> str:
    return f"{key}.parts/{number}"


@_storage_errors
def multipart_start(*, key: str) -> str:
    """Begin a multipart upload to ``key``; returns the storage's handle for it."""
    storage = blobs()
    if _on_filesystem(storage):
        return ""
    client, bucket = _s3(storage)
    return client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]


@_storage_errors
def multipart_put(*, key: str, upload_id: str, number: int, chunks: Iterable[bytes]) -> str:
    """Store part ``number`` (replacing an earlier one); returns the storage's tag for it."""
    storage = blobs()
    if _on_filesystem(storage):
        _fs_write(_fs_path(storage, _part_key(key, number)), chunks)
        return ""
    client, bucket = _s3(storage)
    # boto3 needs a part's length and a seekable body: the part is spooled (to disk past one
    # chunk) while it streams in, then sent.
    with tempfile.SpooledTemporaryFile(max_size=CHUNK_BYTES) as spool:
        for chunk in chunks:
            spool.write(chunk)
        length = spool.tell()
        spool.seek(0)
        answer = client.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number,
            Body=spool, ContentLength=length,
        )  # fmt: skip
    return answer["ETag"]


@_storage_errors
def multipart_complete(*, key: str, upload_id: str, tags: list[tuple[int, str]]) -> str:
    """Join the parts (``(number, tag)``, in order) into ``key``; returns the SHA-256 (hex) of
    the joined bytes, read back from the storage (on the filesystem, while joining)."""
    storage = blobs()
    if _on_filesystem(storage):
        digest = hashlib.sha256()

        def joined() -> Iterator[bytes]:
            for number, _ in tags:
                for chunk in blob_read(key=_part_key(key, number)):
                    digest.update(chunk)
                    yield chunk

        _fs_write(_fs_path(storage, key), joined())
        shutil.rmtree(_fs_path(storage, key + ".parts"), ignore_errors=True)
        return digest.hexdigest()
    client, bucket = _s3(storage)
    client.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": tag} for n, tag in tags]},
    )  # fmt: skip
    return blob_sha256(key=key)


@_storage_errors
def multipart_abort(*, key: str, upload_id: str) -> None:
    """Drop an unfinished upload's parts; an upload already gone is fine."""
    storage = blobs()
    if _on_filesystem(storage):
        shutil.rmtree(_fs_path(storage, key + ".parts"), ignore_errors=True)
        return
    client, bucket = _s3(storage)
    with contextlib.suppress(client.exceptions.NoSuchUpload):
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)


# --- Leftovers -----------------------------------------------------------------------------------


@_storage_errors
def orphans_sweep(*, older_than: datetime, uploading: Container[str]) -> list[str]:
    """Remove what interrupted writes left behind before ``older_than``: ``.partial`` files and
    the parts of multipart uploads, on the filesystem (``{key}.parts/``) or on S3 (unfinished
    multipart uploads), except those of keys in ``uploading`` (resumable uploads still open).
    Returns what was removed, one line each."""
    storage = blobs()
    if _on_filesystem(storage):
        return _fs_orphans_sweep(Path(storage.location), older_than.timestamp(), uploading)
    client, bucket = _s3(storage)
    removed = []
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
        for upload in page.get("Uploads", []):
            if upload["Key"] in uploading or upload["Initiated"] >= older_than:
                continue
            with contextlib.suppress(client.exceptions.NoSuchUpload):
                client.abort_multipart_upload(
                    Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                )
            removed.append(f"multipart upload {upload['Key']}")
    return removed


def _fs_orphans_sweep(root: Path, cutoff: float, uploading: Container[str]) -> list[str]:
    removed = []
    if not root.exists():
        return removed
    for path in sorted(root.rglob("*")):
        relative = str(path.relative_to(root))
        if path.is_dir() and path.name.endswith(".parts"):
            key = relative.removesuffix(".parts")
            newest = max((p.stat().st_mtime for p in path.rglob("*")), default=0.0)
            if key not in uploading and max(newest, path.stat().st_mtime) < cutoff:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(f"parts {relative}")
        elif path.name.startswith(".") and path.name.endswith(".partial"):
            with contextlib.suppress(FileNotFoundError):  # a parts folder removed above
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed.append(f"partial {relative}")
    return removed
