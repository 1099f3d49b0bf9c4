"""The OpenAPI schema says what the API enforces (core.schema.AutoSchema and its hooks)."""

import json
import re

import pytest
from drf_spectacular.validation import validate_schema

from core.schema import NO_NUL, NOT_BLANK_NO_NUL
from testing.fake_openai import PullScript

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client) -> dict:
    return client.get("/api/schema/?format=json").json()


def test_the_schema_is_valid_openapi(schema):
    # What client generators read first: a schema OpenAPI's own meta-schema refuses breaks them.
    validate_schema(schema)


def parameter(schema: dict, path: str, method: str, name: str) -> dict:
    found = [p for p in schema["paths"][path][method]["parameters"] if p["name"] == name]
    assert len(found) == 1, found
    return found[0]


def component(schema: dict, name: str) -> dict:
    return schema["components"]["schemas"][name]


def test_a_cursor_parameter_has_the_pattern_of_a_cursor(schema):
    cursor = parameter(schema, "/api/v1/threads", "get", "cursor")["schema"]

    patterns = re.findall(r'"pattern": "([^"]+)"', json.dumps(cursor))
    assert patterns == [r"^[0-9]{1,17}-[0-9a-f]{32}$"]


def test_an_optional_query_parameter_may_be_sent_empty(schema):
    until = parameter(schema, "/api/v1/memories", "get", "until")["schema"]

    assert {"type": "string", "maxLength": 0} in until["anyOf"]


def test_confirm_and_period_say_the_values_they_take(schema):
    confirm = parameter(schema, "/api/v1/memories", "delete", "confirm")
    period = parameter(schema, "/api/v1/marketplace/earnings", "get", "period")

    assert confirm["required"] and confirm["schema"]["enum"] == ["true"]
    assert period["schema"]["pattern"] == r"^[0-9]{4}-(0[1-9]|1[0-2])$"


def test_a_text_field_says_nul_is_refused(schema):
    memory = component(schema, "MemoryCreateRequest")["properties"]
    api_key = component(schema, "ApiKeyCreateInputRequest")["properties"]

    assert memory["agent_id"]["anyOf"][0]["pattern"] == NO_NUL
    # Trimmed, then refused if blank: some character must be neither a space nor NUL.
    assert api_key["name"]["pattern"] == NOT_BLANK_NO_NUL


def test_rules_across_fields_are_in_the_request_schema(schema):
    subscription = schema["paths"]["/api/v1/billing/subscription"]["patch"]["requestBody"]
    change = component(schema, "PatchedSubscriptionChangeInputRequest")

    assert subscription["required"]
    assert change["anyOf"] == [{"required": ["tier"]}, {"required": ["seats"]}]


def test_nested_list_lengths_and_delete_bodies_are_documented(schema):
    batch = schema["paths"]["/mem0/v1/batch/"]["delete"]["requestBody"]
    add = component(schema, "Mem0AddRequest")["properties"]

    assert batch["required"]
    assert add["messages"]["minItems"] == 1


def test_mem0_entity_ids_and_filters_are_described(schema):
    search = component(schema, "Mem0SearchRequest")["properties"]
    mem0_filter = component(schema, "Mem0Filter")

    assert search["user_id"]["maxLength"] == 100
    assert search["filters"] == {"$ref": "#/components/schemas/Mem0Filter"}
    assert mem0_filter["additionalProperties"] is False
    assert mem0_filter["properties"]["OR"]["items"] == {"$ref": "#/components/schemas/Mem0Filter"}


def test_the_load_stream_documents_each_event_and_sends_only_those(
    schema, auth_client, llm_upstream
):
    documented = schema["paths"]["/api/v1/models/{model_id}/load/stream"]["get"]["responses"]
    event = documented["200"]["content"]["text/event-stream"]["schema"]
    data = event["properties"]["data"]
    status = component(schema, "ModelStatusOutput")
    llm_upstream.script_pull(PullScript(layers=1, steps=2, delay=0.01))
    auth_client.post("/api/v1/models/llama3.1:8b/load")

    response = auth_client.get(
        "/api/v1/models/llama3.1:8b/load/stream", HTTP_ACCEPT="text/event-stream"
    )

    assert event["required"] == ["event", "data"]
    assert data["x-contentMediaType"] == "application/json"
    assert data["x-contentSchema"] == {"$ref": "#/components/schemas/ModelStatusOutput"}
    frames = b"".join(response.streaming_content).decode().strip().split("\n\n")
    for frame in frames:
        fields = dict(line.split(": ", 1) for line in frame.splitlines())
        assert fields["event"] in event["properties"]["event"]["enum"]
        assert set(json.loads(fields["data"])) == set(status["required"])
