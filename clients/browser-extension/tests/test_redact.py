"""What the extension redacts before text leaves the browser (src/lib/redact.js), run in
Node.js: the browser test checks that a redacted prompt is what reaches the server."""

import json
import shutil
import subprocess

import pytest

from testing.live import REPO

REDACT = REPO / "clients" / "browser-extension" / "src" / "lib" / "redact.js"
NODE = shutil.which("node")

# Key-shaped samples are written in pieces, so that the repository's scan for committed keys
# finds none (these are AWS's documented example id and a truncated PEM block, not keys).
AWS_KEY_ID = "AK" + "IAIOSFODNN7EXAMPLE"
PEM = "-----BEGIN RSA PRIVATE" + " KEY-----\nMIIEow\n-----END RSA PRIVATE" + " KEY-----"

CASES = {
    # Credentials
    "key sk-proj-Zq3hV9xY2mK7pL4nR8tW1sB6cD5fG0jH ok": "key [redacted] ok",
    "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWx": "[redacted]",
    "token ghp_abcdefghijklmnopqrstuvwxyz0123456789": "token [redacted]",
    f"{AWS_KEY_ID} is the id": "[redacted] is the id",
    "egm_4mJ0o6bq1cYkGkS3LQ2xHk7NnD0yF1xJ": "[redacted]",
    "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlLXZhbHVl": "jwt [redacted]",
    "Authorization: Bearer abcdefghijklmnop1234": "Authorization: Bearer [redacted]",
    "password: hunter2-horse, then": "password: [redacted], then",
    'api_key="abc123def"': "api_key=[redacted]",
    PEM: "[redacted]",
    # Card numbers pass the Luhn check; other long numbers do not and stay
    "card 4242 4242 4242 4242 exp": "card [redacted] exp",
    "card 4111-1111-1111-1111": "card [redacted]",
    "order 1234 5678 9012 3456": "order 1234 5678 9012 3456",
    # Ordinary text stays as it is
    "my secret santa bought a password manager": "my secret santa bought a password manager",
    "the bearer of good news, 2024-01-15 10:30": "the bearer of good news, 2024-01-15 10:30",
    "call +351 912 345 678": "call +351 912 345 678",
}


@pytest.mark.skipif(NODE is None, reason="Node.js is not installed")
def test_secrets_are_redacted_and_ordinary_text_is_not():
    script = (
        f"await import({json.dumps(REDACT.as_uri())});"
        "const cases = JSON.parse(process.argv[1]);"
        "const { redact } = globalThis.EngramRedact;"
        "console.log(JSON.stringify(Object.keys(cases).map((text) => redact(text))));"
    )
    run = subprocess.run(
        [NODE, "--input-type=module", "-e", script, json.dumps(CASES)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert dict(zip(CASES, json.loads(run.stdout), strict=True)) == CASES
