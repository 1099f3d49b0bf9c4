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


# Shaped like allauth's keys: a reset key (user id, Django's timestamped token), a verification
# key (Django-signed, its colons percent-encoded as in a link).
RESET_KEY = "0c6c3bd2a4f54a4e8d1f7b7e6a5c4d3b-cx9z0k-4f3e2d1c0b9a89786756453423120f0e"
VERIFY_KEY = "MQ%3A1xaF1A%3AuvSyrjwV5xVHYuJjqW3Dtqlrqt__7OLVnu1mkQcqy4w"


@pytest.mark.parametrize(
    "url",
    [
        f"GET /account/password/reset/{RESET_KEY} HTTP/1.1",
        f"GET /account/verify-email/{VERIFY_KEY}?next=/ HTTP/1.1",
        f"GET /reset?key={RESET_KEY}&lang=en HTTP/1.1",
    ],
)
def test_the_keys_of_emailed_links_are_redacted(url):
    line = _log_through(RedactingFormatter("%(message)s"), "%s", url)

    assert RESET_KEY not in line and VERIFY_KEY not in line
    assert "[REDACTED]" in line and "HTTP/1.1" in line


def test_a_providers_authorization_code_is_redacted_from_its_callback_line():
    code = "Xq3dG9pV0mT7rLw2kN8sYb1cZf4hJ6uE"
    url = f"GET /accounts/oidc/keycloak/login/callback/?state=abc&code={code}&iss=x HTTP/1.1"
    line = _log_through(RedactingFormatter("%(message)s"), "%s", url)

    assert code not in line
    assert "code=[REDACTED]&iss=x HTTP/1.1" in line


def test_json_lines_carry_the_request_id_and_redact():
    bind_request_id("req-42")

    line = _log_through(JSONFormatter(), "key %s", SECRETS[0])

    entry = json.loads(line)
    assert entry["request_id"] == "req-42"
    assert entry["level"] == "WARNING"
    assert SECRETS[0] not in entry["message"]


def test_what_a_person_searched_for_is_not_written():
    line = _log_through(
        RedactingFormatter("%(message)s"),
        "%s",
        "GET /memories/?mode=hybrid&q=my+sister%27s+name HTTP/1.1",
    )
    quoted = _log_through(RedactingFormatter("%(message)s"), "%s", "GET /memories/?q=a'secret x")
    tagged = _log_through(RedactingFormatter("%(message)s"), "%s", "GET /memories/?tag=health&m=1")

    assert "sister" not in line
    assert "?mode=hybrid&q=[REDACTED] HTTP/1.1" in line
    assert "secret" not in quoted and "?q=[REDACTED] x" in quoted
    assert "health" not in tagged and "?tag=[REDACTED]&m=1" in tagged


def test_control_characters_from_a_client_are_escaped_in_text_lines():
    line = _log_through(
        RedactingFormatter("%(message)s"), "Unhandled error on GET %s", "/x\x1b[31mRED\x00\r/m"
    )

    assert line == "Unhandled error on GET /x\\x1b[31mRED\\x00\\x0d/m\n"


@pytest.mark.parametrize(
    "url",
    [
        "GET /teams/invitations/accept?token=Zt9xQ2bV7mK4pL8sR1nW3yH6 HTTP/1.1",
        # The sign-in page a signed-out invitee is sent to first, the link in its next=.
        "GET /account/login?next=/teams/invitations/accept%3Ftoken%3DZt9xQ2bV7mK4pL8sR1nW3yH6"
        " HTTP/1.1",
    ],
)
def test_an_invitations_token_is_redacted_even_inside_a_next_address(url):
    line = _log_through(RedactingFormatter("%(message)s"), "%s", url)

    assert "Zt9xQ2bV7mK4pL8sR1nW3yH6" not in line and "HTTP/1.1" in line


def test_a_request_for_another_host_is_one_line_not_a_traceback(client, caplog, db):
    caplog.set_level(logging.INFO)

    answer = client.get("/health", HTTP_HOST="evil.example")

    assert answer.status_code == 400
    [record] = [r for r in caplog.records if r.name == "django.security.DisallowedHost"]
    assert record.exc_info is None and "evil.example" in record.getMessage()


def test_a_form_with_too_many_fields_is_one_line_not_a_traceback(client, caplog, db, settings):
    caplog.set_level(logging.INFO)
    body = "&".join(f"f{i}=x" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))

    answer = client.post("/account/login", body, content_type="application/x-www-form-urlencoded")

    assert answer.status_code == 400
    [record] = [r for r in caplog.records if r.name == "django.security.TooManyFieldsSent"]
    assert record.exc_info is None
