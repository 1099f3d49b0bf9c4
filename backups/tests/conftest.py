"""Fixtures of the storage tests: a live server per blob backend (filesystem, and S3 on a local
moto server), users with room to store, and a look at what the storage really holds."""

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import storages

from accounts.services import tokens_issue
from accounts.tests.factories import UserFactory
from billing.tiers import Tier
from testing.live import live_server
from testing.s3 import filesystem_storage_setting, local_s3

# A stalled upload is dropped after STREAMED_UPLOAD_IDLE_SECONDS: short, so its test is quick;
# long enough that a busy machine never stalls the reference client's own uploads that long.
STALL_SECONDS = 5
SERVER_ENV = {
    "LOG_LEVEL": "WARNING",
    "RATELIMIT_ENABLE": "false",
    "STREAMED_UPLOAD_IDLE_SECONDS": str(STALL_SECONDS),
}


@dataclass(frozen=True)
class Stack:
    backend: str
    url: str
    blobs: dict[str, Any]  # settings.STORAGES["blobs"] of the server


@pytest.fixture(scope="module", params=["filesystem", "s3"])
def stack(request, django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[Stack]:
    """One live server per module and backend; each test commits its own data."""
    tmp = tmp_path_factory.mktemp(request.param)
    with ExitStack() as resources:
        if request.param == "s3":
            s3 = resources.enter_context(local_s3(tmp / "moto.log"))
            env, blobs = s3.env, s3.storage_setting
        else:
            root = tmp / "blobs"
            env = {"STORAGE_BACKEND": "filesystem", "STORAGE_ROOT": str(root)}
            blobs = filesystem_storage_setting(root)
        resources.enter_context(django_db_blocker.unblock())
        server = resources.enter_context(live_server({**env, **SERVER_ENV}, tmp / "server.log"))
        yield Stack(backend=request.param, url=server.url, blobs=blobs)


@pytest.fixture
def same_storage(stack, settings) -> Iterator[Stack]:
    """This process's blob storage is the live server's; emptied after each test, as the
    database is."""
    settings.STORAGES = {**settings.STORAGES, "blobs": stack.blobs}
    yield stack
    for key in stored_blobs():
        if not key.startswith("(multipart)"):
            storages["blobs"].delete(key)


@pytest.fixture
def local_blobs(settings, tmp_path) -> Path:
    """In-process tests store their blobs in a folder of their own."""
    root = tmp_path / "blobs"
    settings.STORAGES = {**settings.STORAGES, "blobs": filesystem_storage_setting(root)}
    return root


def make_user(tier: str = Tier.PRO):
    return UserFactory(tier=tier)


def token_for(user) -> str:
    return tokens_issue(user=user).access


def stored_blobs() -> dict[str, bytes]:
    """Every blob in the configured storage, by key (unfinished S3 multipart uploads listed
    with their key and no bytes)."""
    storage = storages["blobs"]
    found: dict[str, bytes] = {}
    if hasattr(storage, "bucket_name"):
        client = storage.connection.meta.client
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=storage.bucket_name):
            for item in page.get("Contents", []):
                body = client.get_object(Bucket=storage.bucket_name, Key=item["Key"])["Body"]
                found[item["Key"]] = body.read()
        uploads = client.list_multipart_uploads(Bucket=storage.bucket_name).get("Uploads", [])
        for upload in uploads:
            found[f"(multipart) {upload['Key']}"] = b""
        return found
    root = Path(storage.location)
    for path in root.rglob("*") if root.exists() else []:
        if path.is_file():
            found[str(path.relative_to(root))] = path.read_bytes()
    return found
