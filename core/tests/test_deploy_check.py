"""Production settings pass Django's deployment checklist."""

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_check_deploy_is_clean_with_production_settings():
    env = {
        **os.environ,
        "ENGRAM_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "engram.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://engram.example.com",
        "ENCRYPTION_KEYS": "k1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
    }

    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env["ENGRAM_ENV"] = "production"

    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "check",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
