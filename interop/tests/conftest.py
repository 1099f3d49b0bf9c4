"""The official clients (mcp, mem0ai) talk to a live Engram server (``engram``, in
testing/fixtures.py) over real HTTP, with an API key of the test's user."""

import os
import tempfile

import pytest

from accounts.services import api_key_create

# mem0ai reports usage to PostHog unless told not to, and keeps a config file under ~/.mem0:
# neither may happen in a test. Set before any test module imports mem0.
os.environ["MEM0_TELEMETRY"] = "false"
os.environ.setdefault("MEM0_DIR", tempfile.mkdtemp(prefix="engram-test-mem0-"))


@pytest.fixture
def key_for():
    """An API key's secret for ``user`` with ``scopes`` (both memories scopes by default)."""

    def make(user, scopes=("memories:read", "memories:write")) -> str:
        return api_key_create(user=user, name="client", scopes=list(scopes))[1]

    return make
