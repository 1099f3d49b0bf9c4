"""Actions: what an agent asks the client to do with the data it keeps on the device.

Every action is checked against ``ACTION_SCHEMA`` before it leaves the server; docs/agents.md shows
the same schema. ``remember`` is Engram's own: a memory the client may save (``POST
/api/v1/memories``) after the user agrees.

A destructive action (``action_destructive``: a deletion) is never an action of the answer,
whatever the model wrote: it comes back as a proposal with an id, and becomes an action only
when the user confirms that id (``agents.services.agent_actions_confirm``).
"""

import uuid
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

TABLES = ("tasks", "projects", "checkpoints", "notes")
ACTION_TYPES = (
    "create_record",
    "update_record",
    "delete_record",
    "index_document",
    "send_notification",
    "call_agent",
    "remember",
)

_RECORD = {"type": "object", "minProperties": 1}
_WITH_ID = {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}


def _action(kind: str, required: list[str], **properties: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["type", *required],
        "properties": {"type": {"const": kind}, **properties},
        "additionalProperties": False,
    }


ACTION_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "oneOf": [
        _action("create_record", ["table", "data"], table={"enum": list(TABLES)}, data=_RECORD),
        _action(
            "update_record",
            ["table", "data"],
            table={"enum": list(TABLES)},
            data={**_WITH_ID, "minProperties": 2},
        ),
        _action("delete_record", ["table", "data"], table={"enum": list(TABLES)}, data=_WITH_ID),
        _action(
            "index_document",
            ["data"],
            data={
                "type": "object",
                "required": ["text"],
                "properties": {"text": {"type": "string", "minLength": 1}},
            },
        ),
        _action(
            "send_notification",
            ["data"],
            data={
                "type": "object",
                "required": ["title"],
                "properties": {"title": {"type": "string", "minLength": 1, "maxLength": 200}},
            },
        ),
        _action(
            "call_agent",
            ["agent", "data"],
            agent={"type": "string", "minLength": 1},
            data={"type": "object", "required": ["message"]},
        ),
        _action(
            "remember",
            ["data"],
            data={
                "type": "object",
                "required": ["content"],
                "properties": {
                    "content": {"type": "string", "minLength": 1, "maxLength": 2000},
                    "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 10},
                },
            },
        ),
    ],
}
_VALIDATOR = Draft202012Validator(ACTION_SCHEMA)


class InvalidAction(ValueError):
    """An action that does not match ``ACTION_SCHEMA``; the message says where."""


def action_check(action: dict[str, Any]) -> dict[str, Any]:
    """``action`` when it matches the schema; InvalidAction naming the first problem if not."""
    error = best_match(_VALIDATOR.iter_errors(action))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "action"
        raise InvalidAction(f"{where}: {error.message}")
    return action


def record_action(kind: str, table: str, data: dict[str, Any]) -> dict[str, Any]:
    return action_check({"type": kind, "table": table, "data": data})


def action_destructive(action: dict[str, Any]) -> bool:
    """True for an action that loses the user's data: a record deleted, or a task's comment."""
    return action["type"] == "delete_record" or "delete_comment" in action.get("data", {})


def action_propose(action: dict[str, Any]) -> dict[str, Any]:
    """``action`` as a proposal: the action with the ``id`` the user confirms it by."""
    return {"id": str(uuid.uuid4()), **action}
