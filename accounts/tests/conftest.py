import base64
import os

import pytest

from accounts import crypto


def new_ring(*ids: str) -> str:
    """An ENCRYPTION_KEYS value with a fresh key for each id, newest first."""
    return ",".join(f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}" for key_id in ids)


@pytest.fixture
def key_ring(settings):
    """Point the key ring at ``spec``; the ring is cached per process, so reset it each time."""

    def use(spec: str) -> None:
        settings.ENCRYPTION_KEYS = spec
        crypto.key_ring.cache_clear()

    yield use
    crypto.key_ring.cache_clear()
