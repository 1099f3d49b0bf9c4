"""JSON nested deeper than the parser's limit is invalid input, over HTTP and WebSocket alike:
400 VALIDATION_ERROR (an error frame on a socket that stays open), never a RecursionError."""

import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from accounts.services import tokens_issue
from core.parsers import MAX_JSON_DEPTH

DEEP = "[" * 1000 + "]" * 1000


def nested(depth: int) -> dict:
    value: object = "bottom"
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    "path", ["/api/v1/auth/register", "/api/v1/auth/login", "/api/v1/auth/refresh"]
)
def test_a_deep_body_is_a_validation_error_without_signing_in(api_client, db, path, caplog):
    response = api_client.generic("POST", path, DEEP, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert "Traceback" not in caplog.text


def test_deep_metadata_of_a_memory_is_a_validation_error(auth_client):
    body = {"content": "A note", "metadata": nested(500)}

    response = auth_client.post(
        "/api/v1/memories", json.dumps(body), content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_metadata_nested_within_the_limit_is_kept(auth_client):
    body = {"content": "A note", "metadata": nested(MAX_JSON_DEPTH - 2)}

    response = auth_client.post(
        "/api/v1/memories", json.dumps(body), content_type="application/json"
    )

    assert response.status_code == 201
    assert response.json()["metadata"] == body["metadata"]


def test_deep_lines_of_an_import_are_a_validation_error(auth_client):
    body = json.dumps({"content": "A note", "metadata": nested(500)}) + "\n"

    response = auth_client.generic(
        "POST", "/api/v1/memories/import", body, content_type="application/x-ndjson"
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_deep_websocket_frame_is_an_error_frame_and_the_socket_stays_usable(user):
    from config.asgi import application

    token = (await sync_to_async(tokens_issue)(user=user)).access
    socket = WebsocketCommunicator(application, f"/ws/chat/?token={token}")
    connected, _ = await socket.connect(timeout=5)
    assert connected

    await socket.send_to(text_data="[" * 5000 + "]" * 5000)
    error = await socket.receive_json_from(timeout=5)
    await socket.send_json_to({"type": "nonsense"})
    after = await socket.receive_json_from(timeout=5)

    assert error["type"] == "error" and error["code"] == "VALIDATION_ERROR"
    assert after["type"] == "error" and after["message"] == "Unknown frame type."
    await socket.disconnect()
