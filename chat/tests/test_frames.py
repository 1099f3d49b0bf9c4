"""The framings of a chat event: a token's hand-written frame says what the general one says."""

import json

import pytest

from chat.streaming import ChatEvent, sse_data, ws_frame

TOKENS = ["plain", ' "quoted" \\ back', "line\nbreak\r\n", "émoji 🎉 \u2028", "</script>", ""]


@pytest.mark.parametrize("token", TOKENS)
def test_a_token_frame_is_the_events_json(token):
    event = ChatEvent(
        "token", {"message_id": "5f0c9a1e-0000-4000-8000-000000000001", "token": token}
    )

    assert json.loads(sse_data(event)) == {**event.data, "timestamp": event.timestamp}
    assert json.loads(ws_frame(event, 'client "7"')) == {
        "type": "token",
        **event.data,
        "timestamp": event.timestamp,
        "client_id": 'client "7"',
    }


def test_other_events_keep_their_data_and_name_the_client():
    event = ChatEvent("message_complete", {"message_id": "m", "content": "done", "usage": {"a": 1}})

    assert json.loads(sse_data(event)) == {**event.data, "timestamp": event.timestamp}
    assert json.loads(ws_frame(event, "c")) == {
        "type": "message_complete",
        **event.data,
        "timestamp": event.timestamp,
        "client_id": "c",
    }


def test_the_timestamp_is_iso_8601_in_utc_to_the_millisecond():
    event = ChatEvent("close", {"message_id": "m"}, at=1768473300.1234)

    assert event.timestamp == "2026-01-15T10:35:00.123Z"
