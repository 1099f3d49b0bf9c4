"""The cloud design (004, Adiuva's Electron client and its shared api-types): its paths and
fields, spoken as that client speaks them (docs/contracts.md lists what differs and why)."""

import base64
import hashlib

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings

from accounts.services import tokens_issue
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from billing.tiers import Tier
from config.asgi import application
from testing.fake_openai import Reply
from testing.s3 import filesystem_storage_setting


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def vector_item(key: str, vector: list[float], payload: bytes) -> dict:
    return {
        "id": key,
        "vector": vector,
        "blob": base64.b64encode(payload).decode(),
        "checksum": sha(payload),
    }


@pytest.fixture
def pro(api_client, settings, tmp_path):
    """A pro user's client (the tier that sells storage), storing blobs in a folder of its own."""
    settings.STORAGES = {
        **settings.STORAGES,
        "blobs": filesystem_storage_setting(tmp_path / "blobs"),
    }
    user = UserFactory(tier=Tier.PRO)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=user).access}")
    return api_client


@pytest.mark.django_db
def test_health_answers_status_and_version(api_client):
    answer = api_client.get("/api/v1/health")

    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "version": django_settings.ENGRAM_VERSION}


@pytest.mark.django_db
def test_vectors_upsert_and_delete_at_the_designs_paths(pro):
    upsert = pro.post(
        "/api/v1/storage/vectors/upsert",
        {"vectors": [vector_item("a", [1.0, 0.0], b"pa"), vector_item("b", [0.0, 1.0], b"pb")]},
        format="json",
    )
    assert upsert.status_code == 200
    assert upsert.json()["upserted"] == 2

    deleted = pro.delete("/api/v1/storage/vectors", {"ids": ["a", "unknown"]}, format="json")

    assert deleted.status_code == 200
    assert deleted.json() == {"deleted": 1}
    assert pro.get("/api/v1/storage/vectors/items/a").status_code == 404
    assert pro.get("/api/v1/storage/vectors/items/b").status_code == 200
    # Engram's own routes stay.
    assert pro.post("/api/v1/storage/vectors/delete", {"ids": ["b"]}, format="json").json() == {
        "deleted": 1
    }


@pytest.mark.django_db
def test_a_delete_without_ids_is_a_400_in_the_error_shape(pro):
    answer = pro.delete("/api/v1/storage/vectors", {}, format="json")

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "VALIDATION_ERROR"
    assert "ids" in answer.json()["error"]["details"]


@pytest.mark.django_db
def test_backup_metadata_has_chunk_count(pro, settings):
    settings.BACKUP_PART_BYTES = 4
    whole = b"sealed"
    pro.generic(
        "PUT",
        "/api/v1/backup",
        whole,
        content_type="application/octet-stream",
        HTTP_X_BACKUP_VERSION="1",
        HTTP_X_BACKUP_TIMESTAMP="1700000000000",
        HTTP_X_BACKUP_CHECKSUM=sha(whole),
    )
    parted = b"three parts!"  # 12 bytes: parts of 4
    upload = pro.post(
        "/api/v1/backup/uploads",
        {"version": 2, "timestamp": 1700000000001, "size": len(parted), "checksum": sha(parted)},
        format="json",
    ).json()
    for number in range(1, upload["part_count"] + 1):
        part = parted[(number - 1) * 4 : number * 4]
        pro.generic(
            "PUT",
            f"/api/v1/backup/uploads/{upload['id']}/parts/{number}",
            part,
            content_type="application/octet-stream",
            HTTP_X_PART_CHECKSUM=sha(part),
        )
    assert pro.post(f"/api/v1/backup/uploads/{upload['id']}/complete").status_code == 201

    history = pro.get("/api/v1/backup/history").json()["results"]

    assert [(item["version"], item["chunk_count"]) for item in history] == [(2, 3), (1, 1)]
    assert {"version", "timestamp", "checksum", "chunk_count"} <= set(history[0])


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_database_pool")
async def test_the_agents_socket_is_served_at_chat_stream(llm_upstream):
    anonymous = WebsocketCommunicator(application, "/api/v1/chat/stream")
    assert (await anonymous.connect(timeout=5))[0]
    assert await anonymous.receive_output(timeout=5) == {"type": "websocket.close", "code": 4401}

    user = await sync_to_async(UserFactory)(tier=Tier.PRO)
    token = (await sync_to_async(tokens_issue)(user=user)).access
    # The design's desktop client sends its JWT as a header, as over HTTP.
    socket = WebsocketCommunicator(
        application,
        "/api/v1/chat/stream",
        headers=[(b"authorization", f"Bearer {token}".encode())],
    )
    assert (await socket.connect(timeout=5))[0]
    await socket.send_json_to({"execution_mode": "direct"})  # a ChatRequest without its message

    refused = await socket.receive_json_from(timeout=10)
    assert refused["type"] == "error" and "message" in refused["details"]

    llm_upstream.script(
        Reply(text='{"agent": "tasks", "confidence": 0.9}'),  # the routing model
        Reply(tokens=["Nothing ", "is due."]),
    )
    await socket.send_json_to(
        {
            "message": "what is due today?",
            "context": {"user_profile": {}, "recent_tasks": [], "conversation_history": []},
            "execution_mode": "direct",
        }
    )
    frames = []
    while not frames or not (frames[-1].get("done") or frames[-1].get("type") == "error"):
        frames.append(await socket.receive_json_from(timeout=10))

    done = frames[-1]
    assert "".join(f["token"] for f in frames if f.get("type") == "token") == "Nothing is due."
    assert done["done"] is True and done["response"] == "Nothing is due."
    assert done["actions"] == []
    await socket.disconnect()


@pytest.mark.django_db
def test_token_responses_say_when_the_access_token_expires(api_client, user, settings):
    signed_in = api_client.post(
        "/api/v1/auth/login", {"email": user.email, "password": DEFAULT_PASSWORD}, format="json"
    )

    body = signed_in.json()
    assert signed_in.status_code == 200, body
    assert {"access", "refresh", "expires_at", "expires_in"} <= body.keys()
    assert body["expires_in"] == settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds()
