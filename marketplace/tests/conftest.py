"""Marketplace fixtures: small real plugin packages built by the test, a publisher, staff, a
power user and a free one, blobs in a folder of the test's own, and helpers that walk a
version through submission and review."""

import io
import json
import stat
import zipfile
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
