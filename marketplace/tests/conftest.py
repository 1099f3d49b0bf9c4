"""Marketplace fixtures: small real plugin packages built by the test, a publisher, staff, a
power user and a free one, blobs in a folder of the test's own, and helpers that walk a
version through submission and review."""

import io
import json
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from billing.tiers import Tier
from conftest import bearer_client
from marketplace.manifest import MANIFEST_NAME
from testing.s3 import filesystem_storage_setting

PLUGINS = "/api/v1/plugins"
MARKETPLACE = "/api/v1/marketplace"


def manifest_of(plugin_id: str = "acme.notes", **fields: Any) -> dict[str, Any]:
    return {
        "id": plugin_id,
        "name": "Notes helper",
        "description": "Turns meeting notes into memories.",
        "version": "1.0.0",
        "author": "Acme Plugins",
        "category": "memory",
        "permissions": ["memories:read", "memories:write", "network:api.acme.example"],
        "price_cents": 0,
        "min_engram_version": "0.1.0",
        "homepage": "https://acme.example/notes",
        **fields,
    }


def package_of(
    manifest: dict[str, Any] | None,
    *,
    files: dict[str, bytes] | None = None,
    symlinks: dict[str, str] | None = None,
) -> bytes:
    """A real zip: the manifest at its root (unless None), ``files``, and ``symlinks`` (name:
    target) stored as Unix symlinks."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if manifest is not None:
            archive.writestr(MANIFEST_NAME, json.dumps(manifest))
        archive.writestr("plugin/main.py", b"def run(ctx):\n    return ctx.memories.search('x')\n")
        for name, data in (files or {}).items():
            archive.writestr(zipfile.ZipInfo(name), data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return buffer.getvalue()


def submit(client: APIClient, manifest: dict[str, Any], package: bytes | None = None):
    upload = io.BytesIO(package if package is not None else package_of(manifest))
    upload.name = "plugin.zip"
    return client.post(
        PLUGINS, {"manifest": json.dumps(manifest), "package": upload}, format="multipart"
    )


@pytest.fixture(autouse=True)
def plugin_blobs(settings, tmp_path) -> Path:
    root = tmp_path / "blobs"
    settings.STORAGES = {**settings.STORAGES, "blobs": filesystem_storage_setting(root)}
    return root


@pytest.fixture
def publisher_user(db):
    return UserFactory(tier=Tier.FREE)


@pytest.fixture
def publisher_client(publisher_user) -> APIClient:
    client = bearer_client(publisher_user)
    answer = client.post(f"{MARKETPLACE}/publisher", {"namespace": "acme"}, format="json")
    assert answer.status_code == 201, answer.content
    return client


@pytest.fixture
def staff_client(db) -> APIClient:
    return bearer_client(UserFactory(is_staff=True))


@pytest.fixture
def power_user(db):
    return UserFactory(tier=Tier.POWER)


@pytest.fixture
def power_client(power_user) -> APIClient:
    return bearer_client(power_user)


@pytest.fixture
def free_client(db) -> APIClient:
    return bearer_client(UserFactory(tier=Tier.FREE))


@pytest.fixture
def publish(publisher_client, staff_client):
    """Submit ``manifest`` as the publisher and approve it as staff; answers the version."""

    def run(manifest: dict[str, Any]) -> dict[str, Any]:
        answer = submit(publisher_client, manifest)
        assert answer.status_code == 201, answer.content
        version = answer.json()
        decided = staff_client.post(
            f"{MARKETPLACE}/reviews/{version['id']}",
            {"decision": "approved", "notes": "Looks good."},
            format="json",
        )
        assert decided.status_code == 200, decided.content
        return decided.json()

    return run


@dataclass(frozen=True)
class RawEntry:
    """One entry of a zip written byte by byte: ``local_name`` (default ``name``) goes in the
    local header, ``name`` in the central directory, and both declare ``declared`` bytes
    unpacked (default: the data's true length)."""

    name: str
    data: bytes
    local_name: str | None = None
    declared: int | None = None
    deflated: bool = True


def raw_zip(entries: list[RawEntry]) -> bytes:
    """A zip archive built from its records (APPNOTE 4.3): what zipfile would refuse to write."""
    body, central = b"", b""
    for entry in entries:
        if entry.deflated:
            compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
            packed = compressor.compress(entry.data) + compressor.flush()
        else:
            packed = entry.data
        method = zipfile.ZIP_DEFLATED if entry.deflated else zipfile.ZIP_STORED
        crc = zlib.crc32(entry.data)
        size = len(entry.data) if entry.declared is None else entry.declared
        name = entry.name.encode()
        local_name = (entry.local_name or entry.name).encode()
        offset = len(body)
        body += struct.pack(
            "<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0x21, crc, len(packed), size,
            len(local_name), 0,
        ) + local_name + packed  # fmt: skip
        central += struct.pack(
            "<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0x21, crc, len(packed), size,
            len(name), 0, 0, 0, 0, (stat.S_IFREG | 0o644) << 16, offset,
        ) + name  # fmt: skip
    count = len(entries)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(central), len(body), 0)
    return body + central + end


@pytest.fixture
def connected(publisher_client, fake_stripe):
    """The publisher's Connect account, onboarding started; ``finish()`` completes it."""
    answer = publisher_client.post(f"{MARKETPLACE}/publisher/onboarding")
    assert answer.status_code == 200, answer.content
    assert "/_fake/connect/acct_" in answer.json()["url"]
    account_id = publisher_client.get(f"{MARKETPLACE}/publisher").json()["stripe_account_id"]

    class Account:
        id = account_id
        client = publisher_client

        @staticmethod
        def finish() -> dict:
            fake_stripe.control(f"accounts/{account_id}/onboard")
            return publisher_client.get(f"{MARKETPLACE}/publisher/onboarding").json()

    return Account


def payment_started(fake_stripe, client, plugin_id: str) -> dict:
    """Start installing a paid plugin as ``client``: pending until Stripe says it is paid."""
    answer = client.post(f"{PLUGINS}/{plugin_id}/install", {}, format="json")
    assert answer.status_code == 202, answer.content
    body = answer.json()
    assert (body["ok"], body["status"], body["download_url"]) == (False, "pending_payment", None)
    return body
