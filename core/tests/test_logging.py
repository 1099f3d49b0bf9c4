"""Log lines carry the request id and never a secret."""

import io
import json
import logging

import pytest
from django.core import signing

from core.logging import JSONFormatter, RedactingFormatter, RequestIDFilter
from core.request_context import bind_request_id

SECRETS = [
    "egm_9f8e7d6c5b4a3f2e1d0c",
    "sk-proj-abcdefghijklmnop1234",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
    "AIzaSyA1234567890abcdefghijklmnopqrs",
]


def _log_through(formatter: logging.Formatter, message: str, *args) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(RequestIDFilter())
    logger = logging.getLogger("engram.test.logging")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning(message, *args)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


@pytest.mark.parametrize("secret", SECRETS)
def test_text_lines_redact_secrets(secret):
    line = _log_through(RedactingFormatter("%(request_id)s %(message)s"), "calling with %s", secret)

    assert secret not in line
    assert "[REDACTED]" in line


def test_bearer_tokens_and_passwords_are_redacted():
    line = _log_through(
        RedactingFormatter("%(message)s"),
        "headers Authorization: Bearer opaque-token-value password=hunter2",
    )

    assert "opaque-token-value" not in line and "hunter2" not in line


def test_django_signed_values_and_presigned_signatures_are_redacted():
    # Shaped like a plugin download link: the path is the credential, for minutes.
    token = signing.TimestampSigner(salt="any").sign_object({"v": "version-id", "u": "user-id"})
    presigned = (
        "https://bucket.s3.amazonaws.com/k.zip?X-Amz-Signature=0a1b2c3d4e5f&X-Amz-Expires=300"
    )

    line = _log_through(
        RedactingFormatter("%(message)s"), "GET /api/v1/marketplace/packages/%s then %s", token,
        presigned,
    )  # fmt: skip

    assert token.rsplit(":", 1)[1] not in line and "0a1b2c3d4e5f" not in line
    assert "/api/v1/marketplace/packages/[REDACTED]" in line


def test_json_lines_carry_the_request_id_and_redact():
    bind_request_id("req-42")

    line = _log_through(JSONFormatter(), "key %s", SECRETS[0])

    entry = json.loads(line)
    assert entry["request_id"] == "req-42"
    assert entry["level"] == "WARNING"
    assert SECRETS[0] not in entry["message"]
