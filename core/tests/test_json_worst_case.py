"""The JSON reader's worst case on a real server: an unterminated string of escaped quotes
behind more brackets than the depth limit, as large as a body or frame may be. It is answered
as invalid JSON, and the server goes on answering everyone else meanwhile (the reader is
linear in the text; it once took minutes for a 128 KB body, and the whole process waited)."""

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from websockets.sync.client import connect

from accounts.services import tokens_issue
from core.parsers import MAX_JSON_DEPTH

pytestmark = pytest.mark.django_db(transaction=True)

# Generous for a busy machine; the old reader needed hours for this body.
TIMEOUT = 60


def worst_case(size: int) -> str:
    head = "[" * (MAX_JSON_DEPTH + 1) + '"'
    return head + '\\"' * ((size - len(head)) // 2)


def request(url: str, body: bytes | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, data=body, headers=headers), timeout=TIMEOUT
        ) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_worst_body_is_refused_and_others_are_answered_meanwhile(engram):
    body = worst_case(settings.MAX_REQUEST_BYTES - 1).encode()

    with ThreadPoolExecutor(2) as pool:
        bad = pool.submit(request, f"{engram}/api/v1/auth/refresh", body)
        health = pool.submit(request, f"{engram}/health")
        health_status, _ = health.result()
        status, answer = bad.result()

    assert health_status == 200
    assert status == 400
    assert answer["error"]["code"] == "VALIDATION_ERROR"


def test_the_worst_frame_is_an_error_frame_and_others_are_answered_meanwhile(engram, user):
    token = tokens_issue(user=user).access
    ws_url = engram.replace("http://", "ws://") + f"/ws/chat/?token={token}"

    with connect(ws_url, subprotocols=["engram.v1"], open_timeout=TIMEOUT) as socket:
        socket.send(worst_case(settings.MAX_REQUEST_BYTES))
        health_status, _ = request(f"{engram}/health")
        error = json.loads(socket.recv(timeout=TIMEOUT))

    assert health_status == 200
    assert error["type"] == "error" and error["code"] == "VALIDATION_ERROR"
