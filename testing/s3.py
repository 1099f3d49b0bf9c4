"""A local S3 for tests and benchmarks: moto's server mode, in a process of its own on
127.0.0.1 (never the network), and the settings that point Engram's blob storage at it."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storages.backends.s3 import S3Storage

from testing.live import free_port, running

BUCKET = "engram-test"
# moto accepts any credentials; these only have to be present.
FAKE_KEY_ID = "moto-test-key-id"
FAKE_SECRET = "moto-test-secret"


@dataclass(frozen=True)
class LocalS3:
    endpoint_url: str
    bucket: str

    @property
    def env(self) -> dict[str, str]:
        """Engram's environment for a server process storing its blobs here."""
        return {
            "STORAGE_BACKEND": "s3",
            "STORAGE_S3_BUCKET": self.bucket,
            "STORAGE_S3_REGION": "us-east-1",
            "STORAGE_S3_ENDPOINT_URL": self.endpoint_url,
            "STORAGE_S3_ACCESS_KEY_ID": FAKE_KEY_ID,
            "STORAGE_S3_SECRET_ACCESS_KEY": FAKE_SECRET,
        }

    @property
    def storage_setting(self) -> dict[str, Any]:
        """``settings.STORAGES["blobs"]`` for this process, as config/settings.py makes it."""
        return {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": self.bucket,
                "region_name": "us-east-1",
                "endpoint_url": self.endpoint_url,
                "access_key": FAKE_KEY_ID,
                "secret_key": FAKE_SECRET,
                "default_acl": None,
                "file_overwrite": True,
                "querystring_auth": False,
            },
        }


def filesystem_storage_setting(root: Path) -> dict[str, Any]:
    return {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(root)},
    }


@contextmanager
def local_s3(log_path: Path, *, bucket: str = BUCKET) -> Iterator[LocalS3]:
    """Run moto's S3 server until the block ends, with ``bucket`` created."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with running(command, probe_url=f"{url}/moto-api/", log_path=log_path):
        s3 = LocalS3(endpoint_url=url, bucket=bucket)
        storage = S3Storage(**s3.storage_setting["OPTIONS"])
        storage.connection.meta.client.create_bucket(Bucket=bucket)
        yield s3
