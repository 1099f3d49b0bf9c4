"""Schema-driven fuzzing of every documented endpoint: no 5xx, every response as documented.

It reads the live OpenAPI schema, so every endpoint a later change adds is fuzzed too. The
operations are fuzzed in two halves, this file's and test_api_fuzz_second_half.py's, so that
the two test workers share the suite's longest test (pytest-xdist hands out whole files).
"""

import json
import os
import zlib

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
pytestmark = pytest.mark.heavy(230)
# Operations that check credentials of their own (a password, a refresh token) in the body.
SIGN_IN_PATHS = ("/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/logout")
NUL_REFUSED = "Text may not contain NUL characters."
URL_REFUSED = "Enter a valid URL."
# (Said two ways: by extraction, and by mem0's infer=false that stores messages as they are.)
USER_TEXT_NEEDED = (
    "At least one user or assistant message needs text.",
    "No user or assistant message has text.",
)
ENTITY_NEEDED = "At least one entity id is required."
# ...and the user and run ids, which name one session together, fit 255 bytes.
ENTITY_IDS = (ENTITY_NEEDED, "With run_id, at most 255")
# A raw body's checksum comes in X-Checksum, optional for a JSON body (which holds its own).
RAW_CHECKSUM = "Expected 64 hex characters"
# Every alternative of a filter names an entity; a filter expands to at most 10 alternatives.
FILTER_RULES = ("Each alternative needs user_id", "Too many alternatives")
# Rules OpenAPI 3.0 cannot state: they read stored data, or tie one value to another. A 400
# whose every error is one of these (field and message) is the rule at work, so a request the
# schema allows may meet it; any other error of that request still fails the test.
TIME_ZONE = "is not an IANA time zone."
YOURS = ("of yours has this id.", "its own ancestor", "nest at most")
TASK_RULES = {"time_zone": TIME_ZONE, "project_id": YOURS, "parent_id": YOURS}
RECURRENCE_RULES = {**TASK_RULES, "rrule": None, "starts_on": "Between"}
RULES_BEYOND_THE_SCHEMA: dict[tuple[str, str], dict[str, str | tuple[str, ...] | None]] = {
    ("POST", "/api/v1/auth/password"): {"old_password": "The current password is wrong."},
    # A deletion is confirmed with the account's own address and password.
    ("POST", "/api/v1/auth/me/deletion"): {
        "confirm_email": "Type your account's email address to confirm.",
        "password": "The password is wrong.",
    },
    # Django's password validators: common passwords, likeness to the email (any message).
    ("POST", "/api/v1/auth/register"): {
        "password": None,
        "email": "An account with this email already exists.",
    },
    # A model of the catalog; the catalog is data, not schema.
    ("POST", "/api/v1/personas"): {"default_model": "No model with id"},
    ("PATCH", "/api/v1/personas/{persona_id}"): {"default_model": "No model with id"},
    ("PATCH", "/api/v1/auth/me"): {"default_model": "No model with id"},
    # `format: uri` is RFC 3986; Django's URLValidator also limits a host's labels to 63
    # characters and wants a top-level domain, and outbound URLs refuse private addresses.
    ("PUT", "/api/v1/auth/provider-keys/{provider}"): {"base_url": None},
    ("POST", "/api/v1/memories"): {"source_url": URL_REFUSED},
    ("POST", "/api/v1/memories/prompts"): {"source_url": URL_REFUSED},
    ("POST", "/api/v1/memories/bulk"): {"items": URL_REFUSED},
    # Some message of the conversation must be the user's or the assistant's, with text.
    ("POST", "/api/v1/memories/extract"): {"messages": USER_TEXT_NEEDED},
    # A cursor continues the sort it came from: one parameter's value tied to another's.
    ("GET", "/api/v1/plugins"): {"cursor": "Malformed cursor, or another sort."},
    # mem0 reads and deletes by entity: one of four optional fields (or a filter) names it.
    ("DELETE", "/mem0/v1/memories/"): {"user_id": ENTITY_NEEDED},
    ("POST", "/mem0/v3/memories/add/"): {
        "user_id": ENTITY_IDS,
        "messages": USER_TEXT_NEEDED,
    },
    ("POST", "/mem0/v3/memories/"): {"user_id": ENTITY_IDS, "filters": FILTER_RULES},
    # A batch names each memory once (items are objects: no uniqueItems says it of one field).
    ("PUT", "/mem0/v1/batch/"): {"memories": "named more than once"},
    ("DELETE", "/mem0/v1/batch/"): {"memories": "named more than once"},
    ("POST", "/mem0/v3/memories/search/"): {"user_id": ENTITY_IDS, "filters": FILTER_RULES},
    # A raw upload names its table in the query, a JSON one in the body.
    ("POST", "/api/v1/storage/records"): {
        "table": "Required, at most 64 characters.",
        "checksum": RAW_CHECKSUM,
    },
    ("PUT", "/api/v1/storage/records/{record_id}"): {"checksum": RAW_CHECKSUM},
    # The body is JSON Lines, one memory a line: text the schema cannot describe line by line.
    ("POST", "/api/v1/memories/import"): {"body": None},
    # Tasks: an IANA time zone (the server's tzdata, a list no pattern describes), the ids of
    # one's own projects and tasks (data, not schema), an RFC 5545 rule (a grammar of its own,
    # read by dateutil) and its start within the years generation can walk.
    ("GET", "/api/v1/tasks"): {"tz": TIME_ZONE},
    ("GET", "/api/v1/tasks/stats"): {"tz": TIME_ZONE},
    ("POST", "/api/v1/tasks"): TASK_RULES,
    ("PATCH", "/api/v1/tasks/{task_id}"): TASK_RULES,
    ("POST", "/api/v1/recurrences"): RECURRENCE_RULES,
    ("PATCH", "/api/v1/recurrences/{rule_id}"): RECURRENCE_RULES,
    # An OpenAI message's content may be null for the assistant only, and a tool message names
    # its call: one field tied to another's value.
    ("POST", "/v1/chat/completions"): {
        "messages": ("Only an assistant's may be null.", "A tool message names its call.")
    },
    # The manifest (JSON text) and the package (a zip) are documents of their own, checked
    # against the manifest's schema and the package rules (marketplace/manifest.py).
    ("POST", "/api/v1/plugins"): {"manifest": None, "package": None},
}
# Error codes no request schema can avoid: a checksum is the SHA-256 of the body it comes with.
CODES_BEYOND_THE_SCHEMA = {"CHECKSUM_MISMATCH"}


def _error_messages(details, field: str | None = None):
    """(top-level field, message) for every message in an error's details."""
    if isinstance(details, dict):
        for key, value in details.items():
            yield from _error_messages(value, key if field is None else field)
    elif isinstance(details, list):
        for value in details:
            yield from _error_messages(value, field)
    else:
        yield field, str(details)


def _refused_by_a_rule_beyond_the_schema(response, case) -> bool:
    if response.status_code != 400:
        return False
    if response.json()["error"]["code"] in CODES_BEYOND_THE_SCHEMA:
        return True
    errors = list(_error_messages(response.json()["error"]["details"]))
    # The API refuses NUL in every text (PostgreSQL cannot store it). A text field's schema
    # says so (a pattern; DRF's refusal there has another message); this message is for NUL
    # inside free-form JSON (metadata, content parts), whose keys and nested values OpenAPI
    # 3.0 cannot constrain (no `propertyNames`, no recursive "any JSON but").
    if errors and all(message == NUL_REFUSED for _, message in errors):
        return True
    rules = RULES_BEYOND_THE_SCHEMA.get((case.method, case.operation.path), {})
    return bool(errors) and all(
        field in rules and _is_one_of(message, rules[field]) for field, message in errors
    )


def _is_one_of(message: str, expected: str | tuple[str, ...] | None) -> bool:
    """Whether ``message`` contains the ``expected`` one (or one of them; None: any)."""
    if expected is None:
        return True
    return any(part in message for part in ((expected,) if isinstance(expected, str) else expected))


def schema_valid_request_accepted(ctx, response, case):
    """schemathesis's positive_data_acceptance, less the rules listed above."""
    if _refused_by_a_rule_beyond_the_schema(response, case):
        return None
    return positive_data_acceptance(ctx, response, case)


def half(number: int):
    """Operations in half ``number`` (0 or 1) of the API: split by a hash of method and path,
    so each operation always lands in the same half and a new one in either."""

    def matches(ctx) -> bool:
        operation = ctx.operation
        return zlib.crc32(f"{operation.method} {operation.path}".encode()) % 2 == number

    return matches


# Each half's one test fuzzes every operation in it, so its run time grows with the API (past
# pytest.ini's 300 s hang guard on a busy 2-core machine); still a hang guard.
HANG_GUARD = pytest.mark.timeout(1800)
EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    # CI replays the same cases (a red run is the change's, not the dice's); every other run
    # draws new ones and so keeps finding what the schema and the API disagree on.
    derandomize=bool(os.environ.get("CI")),
)


def fuzz(case, user) -> None:
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
            schema_valid_request_accepted,
            negative_data_rejection,
        ],
    )
    if not case.path.startswith(SIGN_IN_PATHS):
        assert response.status_code != 401, "the request never reached the view"


@schema.include(half(0)).parametrize()
@HANG_GUARD
@EXAMPLES
def test_documented_endpoints_never_fail(case, user):
    fuzz(case, user)
