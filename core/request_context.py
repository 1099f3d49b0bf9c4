"""The id of the request being served, readable from anywhere in its call chain (logs, errors)."""

import re
import uuid
from contextvars import ContextVar

_request_id: ContextVar[str] = ContextVar("request_id", default="-")

# A client-supplied id is echoed only if it is short and plain, so it cannot inject into logs.
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def current_request_id() -> str:
    return _request_id.get()


def bind_request_id(candidate: str | None) -> str:
    """Adopt the client's X-Request-ID when it is sane, else make one; return the bound id."""
    request_id = candidate if candidate and _SANE_REQUEST_ID.match(candidate) else uuid.uuid4().hex
    _request_id.set(request_id)
    return request_id
