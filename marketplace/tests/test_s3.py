"""On S3 (a local moto server, its own process) install answers S3's presigned URL (Signature V4,
valid MARKETPLACE_DOWNLOAD_URL_SECONDS) and it serves the package. S3 checks the signature and
the expiry; moto checks neither, so refusing a tampered or expired link is tested on the
filesystem backend, where Engram checks them itself."""

import hashlib
import urllib.error
import urllib.request
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlsplit

import pytest

from marketplace.models import PluginVersion
from marketplace.tests.conftest import PLUGINS, manifest_of
from testing.s3 import LocalS3, local_s3

pytestmark = pytest.mark.django_db


@pytest.fixture
def s3_blobs(settings, tmp_path) -> Iterator[LocalS3]:
    with local_s3(tmp_path / "moto.log") as s3:
        blobs = s3.storage_setting
        # As config/settings.py configures S3 (testing.s3 mirrors the rest).
        blobs["OPTIONS"] = {**blobs["OPTIONS"], "signature_version": "s3v4"}
        settings.STORAGES = {**settings.STORAGES, "blobs": blobs}
        yield s3


def _fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def test_install_answers_a_presigned_s3_url(s3_blobs, publish, power_client):
    publish(manifest_of())
    url = power_client.post(f"{PLUGINS}/acme.notes/install", {}, format="json").json()[
        "download_url"
    ]
    assert url.startswith(s3_blobs.endpoint_url)
    query = dict(parse_qsl(urlsplit(url).query))
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Expires"] == "300" and query["X-Amz-Signature"]
    status, body = _fetch(url)
    assert status == 200
    assert hashlib.sha256(body).hexdigest() == PluginVersion.objects.get().package_sha256
