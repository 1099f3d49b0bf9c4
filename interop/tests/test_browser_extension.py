"""A browser extension captures a prompt, then the AI's response, from its own origin with an API
key: the preflight is answered for allowed extension origins only, and both calls work."""

import pytest

from accounts.services import api_key_create

EXTENSION = "chrome-extension://abcdefghijklmnopabcdefghijklmnop"
FIREFOX = "moz-extension://0b8c1a3e-5d1f-4c2b-9a7e-3f6d2c1b0a9e"


@pytest.fixture(autouse=True)
def extension_origins(settings):
    settings.CORS_ALLOWED_ORIGINS = [EXTENSION, FIREFOX]


def preflight(client, path: str, origin: str):
    return client.options(
        path,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type, x-api-key, x-request-id",
    )


@pytest.mark.parametrize("origin", [EXTENSION, FIREFOX])
def test_the_preflight_allows_a_listed_extension(client, origin):
    answer = preflight(client, "/api/v1/memories/prompts", origin)

    assert answer.status_code == 200
    assert answer["Access-Control-Allow-Origin"] == origin
    allowed = answer["Access-Control-Allow-Headers"].lower()
    assert {"x-api-key", "content-type", "authorization", "x-request-id"} <= {
        header.strip() for header in allowed.split(",")
    }


def test_an_unlisted_origin_gets_no_cors_headers(client):
    answer = preflight(client, "/api/v1/memories/prompts", "chrome-extension://someoneelse")

    assert "Access-Control-Allow-Origin" not in answer


def test_the_capture_sequence_from_an_extension(client, user):
    _, secret = api_key_create(user=user, name="extension", scopes=["memories:write"])
    headers = {"HTTP_ORIGIN": EXTENSION, "HTTP_X_API_KEY": secret}

    prompt = client.post(
        "/api/v1/memories/prompts",
        {"prompt": "How do I rotate logs?", "provider": "chatgpt", "conversation_id": "c-1"},
        content_type="application/json",
        **headers,
    )
    memory_id = prompt.json()["id"]
    response = client.post(
        f"/api/v1/memories/{memory_id}/response",
        {"response": "Use logrotate."},
        content_type="application/json",
        **headers,
    )

    assert prompt.status_code == 201 and response.status_code == 200
    assert response.json()["content"] == "How do I rotate logs?\n\nUse logrotate."
    assert response.json()["source"] == "extension"
    assert response["Access-Control-Allow-Origin"] == EXTENSION
    assert "X-Request-ID" in response["Access-Control-Expose-Headers"]
