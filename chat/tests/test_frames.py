"""The framings of a chat event: a token's hand-written frame says what the general one says."""

import json

import pytest

from chat.streaming import ChatEvent, sse_frame, ws_frame
from core.sse import sse_event

TOKENS = ["plain", ' "quoted" \\ back', "line\nbreak\r\n", "émoji 🎉 \u2028", "</script>", ""]


@pytest.mark.parametrize("token", TOKENS)
def test_a_token_frame_is_the_events_json(token):
    event = ChatEvent(
        "token", {"message_id": "5f0c9a1e-0000-4000-8000-000000000001", "token": token}
    )

    assert sse_frame(event) == sse_event("token", event.data)
    assert json.loads(ws_frame(event, 'client "7"')) == {
        "type": "token",
        **event.data,
        "client_id": 'client "7"',
    }


def test_other_events_keep_their_data_and_name_the_client():
    event = ChatEvent("message_complete", {"message_id": "m", "content": "done", "usage": {"a": 1}})

    assert sse_frame(event) == sse_event("message_complete", event.data)
    assert json.loads(ws_frame(event, "c")) == {
        "type": "message_complete",
        **event.data,
        "client_id": "c",
    }
