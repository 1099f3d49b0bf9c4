"""Log records carry the request id; secrets are scrubbed from every line before it is written."""

import json
import logging
import re
from datetime import UTC, datetime

from core.request_context import current_request_id

# Anything shaped like a credential: our API keys, provider keys, bearer tokens, JWTs, values
# signed by Django (``value:signature`` or ``value:timestamp:signature``, the signature 43
# characters of URL-safe base64, the colons percent-encoded in uvicorn's access lines: a signed
# download link's path, a signed cookie), and
# key=value pairs whose key names a secret (a presigned URL's ``X-Amz-Signature=``; its ``=``
# percent-encoded too, as in a sign-in page's ``next=`` back to an invitation's link), and the
# keys of emailed links (password reset, email verification) in a path or a ``key=`` query, and
# an OAuth authorization code or PKCE verifier in a query.
# Not a credential, but what a person searched their memories for or filtered them by: a ``q=``
# or ``tag=`` query (the web app's memories page, the threads list, the API's list) is not
# written either, a quote in it included (only a double quote, which closes a JSON log line's
# string, or a space ends it).
_SECRET_PATTERNS = [
    re.compile(r"egm_[A-Za-z0-9_\-]{8,}"),
    re.compile(r"\b(?:sk|pk|rk|xai|gsk)-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"\bAIza[0-9A-Za-z_\-]{20,}"),
    re.compile(r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"),
    re.compile(
        r"[A-Za-z0-9_\-.]+(?:(?::|%3A)[0-9A-Za-z]+)?(?::|%3A)[A-Za-z0-9_\-]{43}(?![A-Za-z0-9_\-])",
        re.IGNORECASE,
    ),
    re.compile(r"(?i)(bearer\s+)[^\s\"',]+"),
    re.compile(
        r"(?i)((?:password|secret|api[_-]?key|token|signature)[\"']?\s*(?:[:=]|%3D)\s*[\"']?)"
        r"[^\s\"',&]+"
    ),
    re.compile(r"(?i)(/account/(?:password/reset|verify-email)/)[^\s\"'?#]+"),
    re.compile(r"(?i)([?&]key=)[^\s\"'&#]+"),
    # A provider's authorization code on its way back (/accounts/.../login/callback/?code=),
    # and the PKCE verifier that redeems it.
    re.compile(r"(?i)([?&](?:code|code_verifier)=)[^\s\"'&#]+"),
    re.compile(r"([?&](?:q|tag)=)[^\s\"&#]+"),
]
REDACTED = "[REDACTED]"


def redact(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(
            lambda m: (m.group(1) if m.groups() else "") + REDACTED,
            text,
        )
    return text


class RequestIDFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


class WithoutTraceback(logging.Filter):
    """A record's message without its traceback: for what a client's input raises by design
    (a request to a host not in ALLOWED_HOSTS), where a scanner's requests would fill the log
    with tracebacks of Django's own code."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info, record.exc_text = None, None
        return True


# Control characters a client put in a path or a header (an ANSI escape, a NUL, a carriage
# return) are written as escapes in text lines: a terminal showing the log would act on them.
# Newlines stay (a traceback's); JSON lines escape all of them anyway.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class RedactingFormatter(logging.Formatter):
    """Readable text for development, with secrets scrubbed from message and traceback, and
    control characters escaped."""

    def format(self, record: logging.LogRecord) -> str:
        text = redact(super().format(record))
        return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


class JSONFormatter(logging.Formatter):
    """One JSON object per line for production log pipelines, secrets scrubbed."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": getattr(record, "request_id", current_request_id()),
        }
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)
