"""No published key signs anything: each installation makes its own, and the deployment check
refuses a known or weak one."""

import os
import stat
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rest_framework_simplejwt.backends import TokenBackend

from config.runtime import installation_secret_key
from core.checks import PUBLISHED_SECRET_KEYS

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = next(iter(PUBLISHED_SECRET_KEYS))


def test_an_installation_makes_its_own_key_once_readable_only_by_its_owner(tmp_path):
    first = installation_secret_key(tmp_path / "data")
    again = installation_secret_key(tmp_path / "data")
    elsewhere = installation_secret_key(tmp_path / "other")

    assert first == again and first != elsewhere
    assert len(first) >= 50 and first not in PUBLISHED_SECRET_KEYS
    mode = stat.S_IMODE((tmp_path / "data" / "secret_key").stat().st_mode)
    assert mode == 0o600


def test_the_default_settings_do_not_sign_with_the_published_key(settings):
    assert settings.SECRET_KEY not in PUBLISHED_SECRET_KEYS
    assert settings.SIMPLE_JWT["SIGNING_KEY"] not in PUBLISHED_SECRET_KEYS


def test_a_token_forged_with_the_published_key_is_refused(api_client, user):
    now = datetime.now(UTC)
    claims = {
        "token_type": "access",
        "user_id": str(user.pk),
        "jti": uuid.uuid4().hex,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=5)).timestamp()),
    }
    forged = TokenBackend("HS256", PUBLISHED).encode(claims)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}")

    response = api_client.get("/api/v1/memories")

    assert response.status_code == 401


def _check_deploy(secret_key: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SECRET_KEY": secret_key}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_fails_on_the_published_key():
    result = _check_deploy(PUBLISHED)

    assert result.returncode != 0
    assert "core.E001" in result.stderr and "published" in result.stderr


def test_check_deploy_fails_on_a_short_key():
    result = _check_deploy("short-but-secret")

    assert result.returncode != 0
    assert "core.E001" in result.stderr
