"""Schema-driven fuzzing of every documented endpoint: no 5xx, every response as documented.

It reads the live OpenAPI schema, so every endpoint a later change adds is fuzzed too.
"""

import json

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.services import tokens_issue


@pytest.fixture
def api_schema(db, settings, llm_upstream):
    """The live schema. Providers point at the fake OpenAI-compatible server: endpoints that
    need a language model (chat, memory extraction) get past their availability check."""
    settings.RATELIMIT_ENABLE = False
    # As Django's test client does: keep the test's transaction open across in-process requests.
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    try:
        schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
        # No generated API-key header: junk in X-API-Key is a 401 before any view runs, and the
        # fuzzing is meant for the views (the test signs in with a JWT).
        schema.config.generation.update(with_security_parameters=False)
        yield schema
    finally:
        for signal in (request_started, request_finished):
            signal.connect(close_old_connections)


@schemathesis.serializer("application/x-ndjson")
def _json_lines(context, value) -> bytes:
    """Bodies of JSON Lines endpoints (memories import) go on the wire as the text generated."""
    if isinstance(value, bytes):
        return value
    return (value if isinstance(value, str) else json.dumps(value)).encode()


schema = schemathesis.pytest.from_fixture("api_schema")
# Operations that check credentials of their own (a password, a refresh token) in the body.
SIGN_IN_PATHS = ("/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/logout")


@schema.parametrize()
# One test fuzzes every operation, so its run time grows with the API (past pytest.ini's 300 s
# hang guard on a busy 2-core machine); still a hang guard.
@pytest.mark.timeout(1800)
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_documented_endpoints_never_fail(case, user):
    """Fuzzed as a signed-in user, so requests get past authentication into the views; every
    status, media type and body must be the documented ones. Answers come uncompressed: the
    in-process WSGI transport would not undo gzip as an HTTP client does (compression has its
    own tests)."""
    response = case.call_and_validate(
        headers={
            "Authorization": f"Bearer {tokens_issue(user=user).access}",
            "Accept-Encoding": "identity",
        },
        checks=[
            not_a_server_error,
            status_code_conformance,
            response_schema_conformance,
            content_type_conformance,
            positive_data_acceptance,
            negative_data_rejection,
        ],
    )
    if not case.path.startswith(SIGN_IN_PATHS):
        assert response.status_code != 401, "the request never reached the view"
