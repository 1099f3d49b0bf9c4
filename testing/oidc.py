"""A real OpenID Connect provider for tests: panva's ``oidc-provider`` (OpenID certified, from
npm, ``testing/oidc_provider``) run by Node as a process of its own, on a free port. Registered
by the root conftest.py.

- ``start_oidc_provider(clients=[...], accounts=[...]) -> OidcProvider``; ``.stop()`` ends it
  (by its pid). ``oidc_provider(...)`` is the same as a context manager.
- the ``oidc_provider_factory`` fixture starts as many as a test asks for and stops them after.

A client is ``{"client_id", "client_secret", "redirect_uris": [...]}`` (token endpoint auth
``client_secret_post`` unless ``token_endpoint_auth_method`` says otherwise); an account is
``{"sub", "email", "email_verified", "name"?}``. The provider requires PKCE (S256) of every
client and puts the requested nonce in its ID tokens. Its sign-in page has no password: the test
names the account (``OidcProvider.sign_in``) and consent is granted with it.
"""

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

PROVIDER_DIR = Path(__file__).resolve().parent / "oidc_provider"
START_TIMEOUT_SECONDS = 20


@dataclass
class OidcProvider:
    issuer: str  # http://127.0.0.1:PORT, no trailing slash
    pid: int
    process: subprocess.Popen = field(repr=False)

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def sign_in(self, authorize_url: str, login: str) -> str:
        """Follow ``authorize_url`` (the provider's /auth with its query) as a person's browser
        would, sign ``login`` (a ``sub`` or an email) in, and answer the URL the provider sends
        the browser back to (the client's redirect URI with ``code`` and ``state``, or an
        ``error``). Cookies stay in this call's own jar."""
        with httpx.Client(follow_redirects=False, timeout=10) as browser:
            response = browser.get(authorize_url)
            while response.is_redirect:
                location = urljoin(str(response.url), response.headers["location"])
                if not location.startswith(self.issuer):
                    return location
                if "/interaction/" in location and not location.rstrip("/").endswith("/login"):
                    uid = location.rstrip("/").rsplit("/", 1)[1]
                    page = browser.get(location)
                    if page.is_redirect:  # consent alone: granted without a page
                        response = page
                        continue
                    page.raise_for_status()
                    response = browser.post(
                        f"{self.issuer}/interaction/{uid}/login", data={"login": login}
                    )
                    response_checked(response)
                    continue
                response = browser.get(location)
            response_checked(response)
            raise AssertionError(f"the provider did not redirect back: {response.status_code}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


def response_checked(response: httpx.Response) -> None:
    if response.status_code >= 400:
        raise AssertionError(f"OIDC provider answered {response.status_code}: {response.text}")


def start_oidc_provider(*, clients: list[dict], accounts: list[dict]) -> OidcProvider:
    """Start the provider on a free port of 127.0.0.1 and answer once its discovery document
    is served."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed; the OpenID Connect tests run oidc-provider with it")
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        raise RuntimeError("testing/oidc_provider has no node_modules: run `make install`.")
    config = json.dumps({"host": "127.0.0.1", "port": 0, "clients": clients, "accounts": accounts})
    process = subprocess.Popen(
        ["node", "server.mjs"],
        cwd=PROVIDER_DIR,
        env={**os.environ, "OIDC_PROVIDER_CONFIG": config},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    provider = OidcProvider(issuer="", pid=process.pid, process=process)
    try:
        line = process.stdout.readline()  # the issuer, once listening (or "" if it died)
        if not line:
            raise RuntimeError(f"oidc-provider did not start (exit code {process.wait()}).")
        provider.issuer = json.loads(line)["issuer"]
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                if httpx.get(provider.discovery_url, timeout=2).status_code == 200:
                    return provider
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{provider.discovery_url} was not served in time.")
            time.sleep(0.05)
    except BaseException:
        provider.stop()
        raise


@contextmanager
def oidc_provider(*, clients: list[dict], accounts: list[dict]) -> Iterator[OidcProvider]:
    provider = start_oidc_provider(clients=clients, accounts=accounts)
    try:
        yield provider
    finally:
        provider.stop()


@pytest.fixture
def oidc_provider_factory() -> Iterator[Callable[..., OidcProvider]]:
    """``oidc_provider_factory(clients=[...], accounts=[...])`` starts a provider that stops
    when the test ends."""
    started: list[OidcProvider] = []

    def start(*, clients: list[dict], accounts: list[dict]) -> OidcProvider:
        provider = start_oidc_provider(clients=clients, accounts=accounts)
        started.append(provider)
        return provider

    yield start
    for provider in started:
        provider.stop()
