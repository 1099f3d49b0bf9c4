"""Every failure answers in the one error shape, with the request id, and leaks nothing."""

import json
import logging

import pytest
from channels.testing import ApplicationCommunicator

from config.asgi import application
from testing.asgi import http_scope

pytestmark = [pytest.mark.urls("core.tests.urls")]


def assert_error_shape(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], dict)
    assert error["request_id"] == response["X-Request-ID"]
    return error


def test_malformed_json_is_a_400_with_details(client):
    response = client.post("/test/echo", data="{not json", content_type="application/json")

    error = assert_error_shape(response, 400, "VALIDATION_ERROR")
    assert "body" in error["details"]


def test_valid_json_reaches_the_view(client):
    response = client.post("/test/echo", data={"a": 1}, content_type="application/json")

    assert response.status_code == 200
    assert response.json() == {"received": {"a": 1}}


def test_missing_credentials_are_a_401(client):
    assert_error_shape(client.get("/test/private"), 401, "AUTHENTICATION_FAILED")


def test_unknown_url_is_a_404(client):
    assert_error_shape(client.get("/no/such/page"), 404, "NOT_FOUND")


def test_wrong_method_is_a_405(client):
    assert_error_shape(client.delete("/health"), 405, "METHOD_NOT_ALLOWED")


def test_unsupported_media_type_is_a_415(client):
    response = client.post("/test/echo", data="a=1", content_type="text/plain")

    assert_error_shape(response, 415, "UNSUPPORTED_MEDIA_TYPE")


JSON = (b"content-type", b"application/json")


def _post(headers: list[tuple[bytes, bytes]]) -> dict:
    return http_scope(
        "POST", "/test/echo", headers=[(b"content-type", b"application/json"), *headers]
    )


async def _answer(communicator: ApplicationCommunicator) -> tuple[int, dict]:
    start = await communicator.receive_output(timeout=10)
    body = await communicator.receive_output(timeout=10)
    return start["status"], json.loads(body["body"])


@pytest.mark.asyncio
async def test_a_declared_length_over_the_limit_is_a_413_before_the_body_is_read(settings):
    settings.MAX_REQUEST_BYTES = 1024
    communicator = ApplicationCommunicator(application, _post([(b"content-length", b"2048")]))

    # Not a byte of the body is sent: the answer cannot have waited for it.
    status, body = await _answer(communicator)

    assert status == 413
    assert body["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert body["error"]["details"] == {"limit_bytes": 1024}


@pytest.mark.asyncio
async def test_a_chunked_body_is_a_413_at_the_first_chunk_past_the_limit(settings):
    settings.MAX_REQUEST_BYTES = 1024
    communicator = ApplicationCommunicator(application, _post([]))

    # Three chunks of 500 bytes, the body never ends: the third is past the limit.
    for _ in range(3):
        await communicator.send_input(
            {"type": "http.request", "body": b"x" * 500, "more_body": True}
        )
    status, body = await _answer(communicator)

    assert (status, body["error"]["code"]) == (413, "PAYLOAD_TOO_LARGE")


def test_ten_megabytes_of_json_is_refused_with_413(client):
    body = '{"text": "' + "x" * (10 * 1024 * 1024) + '"}'

    response = client.post("/test/echo", data=body, content_type="application/json")

    assert_error_shape(response, 413, "PAYLOAD_TOO_LARGE")


@pytest.mark.parametrize("url", ["/test/explode", "/test/explode-django"])
def test_a_crash_is_a_500_without_traceback_or_secret(client, url, caplog):
    client.raise_request_exception = False
    with caplog.at_level(logging.ERROR):
        response = client.get(url, HTTP_X_REQUEST_ID="crash-test-1")

    error = assert_error_shape(response, 500, "INTERNAL_ERROR")
    assert error["request_id"] == "crash-test-1"
    body = response.content.decode()
    assert "Traceback" not in body and "sk-live" not in body and "hunter2" not in body
    assert any(record.levelno == logging.ERROR for record in caplog.records)


def test_a_sane_request_id_is_echoed(client):
    response = client.get("/health", HTTP_X_REQUEST_ID="abc-123.retry:2")

    assert response["X-Request-ID"] == "abc-123.retry:2"


def test_an_insane_request_id_is_replaced(client):
    response = client.get("/health", HTTP_X_REQUEST_ID="evil\nid with spaces" + "x" * 300)

    assert response["X-Request-ID"] != "evil"
    assert len(response["X-Request-ID"]) == 32
