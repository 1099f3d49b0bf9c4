"""A live Engram server for the official clients (mcp, mem0ai) to talk to over real HTTP."""

import os
import tempfile

import pytest

from accounts.services import api_key_create
from testing.fixtures import SERVER_KEY
from testing.live import live_server

# mem0ai reports usage to PostHog unless told not to, and keeps a config file under ~/.mem0:
# neither may happen in a test. Set before any test module imports mem0.
os.environ["MEM0_TELEMETRY"] = "false"
os.environ.setdefault("MEM0_DIR", tempfile.mkdtemp(prefix="engram-test-mem0-"))


@pytest.fixture(scope="module")
def engram(django_db_setup, django_db_blocker, fake_openai_server, tmp_path_factory) -> str:
    """One live server per module (the URL); each test commits its own data."""
    env = {
        "OPENAI_BASE_URL": fake_openai_server.base_url,
        "OPENAI_API_KEY": SERVER_KEY,
        "EMBEDDING_BACKEND": "hashing",
        "LLM_MAX_RETRIES": "0",
        "LOG_LEVEL": "WARNING",
    }
    log = tmp_path_factory.mktemp("engram") / "server.log"
    with django_db_blocker.unblock(), live_server(env, log) as server:
        yield server.url


@pytest.fixture
def key_for():
    """An API key's secret for ``user`` with ``scopes`` (both memories scopes by default)."""

    def make(user, scopes=("memories:read", "memories:write")) -> str:
        return api_key_create(user=user, name="client", scopes=list(scopes))[1]

    return make
