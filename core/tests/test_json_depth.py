"""JSON nested deeper than the parser's limit is invalid input, over HTTP and WebSocket alike:
400 VALIDATION_ERROR (an error frame on a socket that stays open), never a RecursionError."""

import json
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from accounts.services import tokens_issue
from memories.models import Memory
from memories.services import METADATA_MAX_DEPTH
from memories.tests.factories import nested_metadata

DEEP = "[" * 1000 + "]" * 1000


@pytest.mark.parametrize(
    "path", ["/api/v1/auth/register", "/api/v1/auth/login", "/api/v1/auth/refresh"]
)
def test_a_deep_body_is_a_validation_error_without_signing_in(api_client, db, path, caplog):
    response = api_client.generic("POST", path, DEEP, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert "Traceback" not in caplog.text


def test_deep_metadata_of_a_memory_is_a_validation_error(auth_client):
    body = {"content": "A note", "metadata": nested_metadata(500)}

    response = auth_client.post(
        "/api/v1/memories", json.dumps(body), content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def metadata_doors(client, metadata: dict) -> list:
    """Send one memory with ``metadata`` by each REST door: create, bulk, import."""
    note = {"content": f"A note {uuid.uuid4()}", "metadata": metadata}
    return [
        client.post("/api/v1/memories", json.dumps(note), content_type="application/json"),
        client.post(
            "/api/v1/memories/bulk",
            json.dumps({"memories": [{**note, "content": f"A note {uuid.uuid4()}"}]}),
            content_type="application/json",
        ),
        client.generic(
            "POST",
            "/api/v1/memories/import",
            json.dumps({**note, "content": f"A note {uuid.uuid4()}"}) + "\n",
            content_type="application/x-ndjson",
        ),
    ]


def test_metadata_nested_to_the_limit_is_kept_by_every_door(auth_client):
    metadata = nested_metadata(METADATA_MAX_DEPTH)

    create, bulk, imported = metadata_doors(auth_client, metadata)

    assert create.status_code == 201
    assert create.json()["metadata"] == metadata
    assert bulk.status_code == 201 and bulk.json()["created"] == 1
    assert imported.status_code == 200 and imported.json()["created"] == 1


def test_metadata_past_the_limit_is_refused_by_every_door(auth_client, user):
    answers = metadata_doors(auth_client, nested_metadata(METADATA_MAX_DEPTH + 1))

    assert [answer.status_code for answer in answers] == [400, 400, 400]
    assert {answer.json()["error"]["code"] for answer in answers} == {"VALIDATION_ERROR"}
    assert not Memory.objects.filter(user=user).exists()


def test_metadata_past_the_limit_is_refused_on_update(auth_client):
    kept = auth_client.post("/api/v1/memories", {"content": "A note"}, format="json").json()

    answer = auth_client.patch(
        f"/api/v1/memories/{kept['id']}",
        json.dumps({"metadata": nested_metadata(METADATA_MAX_DEPTH + 1)}),
        content_type="application/json",
    )

    assert answer.status_code == 400
    assert answer.json()["error"]["details"] == {
        "metadata": [f"At most {METADATA_MAX_DEPTH} levels deep."]
    }


def test_deep_lines_of_an_import_are_a_validation_error(auth_client):
    body = json.dumps({"content": "A note", "metadata": nested_metadata(500)}) + "\n"

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


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/storage/records"),
        ("PUT", "/api/v1/storage/records/5f0c3c53-2a43-4c8e-9a77-3d1a2b6c7d8e"),
        ("PUT", "/api/v1/storage/records/not-a-uuid"),
    ],
)
def test_a_deep_body_to_a_view_that_also_takes_raw_bodies_is_a_validation_error(
    auth_client, method, path, caplog
):
    # Encrypted storage reads JSON and raw ciphertext: its JSON went through DRF's own parser.
    response = auth_client.generic(method, path, '{"table": ' + DEEP + "}", "application/json")

    assert response.status_code in (400, 404), response.content
    assert response.json()["error"]["code"] in ("VALIDATION_ERROR", "NOT_FOUND")
    assert "Traceback" not in caplog.text
