"""What the record-keeping agents share: finding records in the client's context, and the
shapes of their tool parameters."""

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async

from agents.registry import Tool, ToolOutcome, ToolRun, TurnContext, write_outcome

ID = {"type": "string", "minLength": 1, "maxLength": 200}
TEXT = {"type": "string", "maxLength": 20_000}
FLAG = {"type": "boolean"}
MS_TIMESTAMP = {"type": "integer", "minimum": 0, "description": "Milliseconds since 1970 (UTC)."}
NO_ARGUMENTS: dict[str, Any] = {"type": "object", "properties": {}, "additionalProperties": False}


def parameters(required: list[str] | None = None, **properties: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required or [],
        "additionalProperties": False,
    }


def on_records(client: ToolRun, server: Callable[[dict[str, Any], TurnContext], ToolOutcome]):
    """A tool run on the client's records, or on the server's (``server``, run off the event
    loop: it reads the database) when the request asked for them (``context.owner``)."""

    async def run(arguments: dict[str, Any], context: TurnContext) -> ToolOutcome:
        if context.owner is not None:
            return await sync_to_async(server)(arguments, context)
        outcome = client(arguments, context)
        return await outcome if inspect.isawaitable(outcome) else outcome

    return run


def with_server_runs(
    tools: tuple[Tool, ...], runs: dict[str, Callable[[dict[str, Any], TurnContext], ToolOutcome]]
) -> tuple[Tool, ...]:
    """``tools``, each also able to act on the server's records with its run in ``runs``."""
    assert set(runs) == {tool.name for tool in tools}, "every tool needs its server run"
    return tuple(dataclasses.replace(t, run=on_records(t.run, runs[t.name])) for t in tools)


def find(context: TurnContext, key: str, record_id: str) -> dict[str, Any] | None:
    return next((r for r in context.records(key) if str(r.get("id")) == record_id), None)


def matching(records: list[dict[str, Any]], **wanted: Any) -> list[dict[str, Any]]:
    """The records whose fields equal every given (non-None) value."""
    wanted = {k: v for k, v in wanted.items() if v is not None}
    return [r for r in records if all(str(r.get(k)) == str(v) for k, v in wanted.items())]


def missing(kind: str, record_id: str) -> ToolOutcome:
    return ToolOutcome.refused(f"No {kind} with id '{record_id}' in the context.")


def changed(table: str, key: str, id_field: str, kind: str):
    """A tool run that updates one record of ``table``: only the fields given change."""

    def run(arguments: dict[str, Any], context: TurnContext) -> ToolOutcome:
        record_id = arguments.pop(id_field)
        if find(context, key, record_id) is None:
            return missing(kind, record_id)
        if not arguments:
            return ToolOutcome.refused("Nothing to change: give at least one field.")
        data = {"id": record_id, **arguments}
        return write_outcome(
            {"updated": record_id}, {"type": "update_record", "table": table, "data": data}
        )

    return run


def removed(table: str, key: str, id_field: str, kind: str):
    def run(arguments: dict[str, Any], context: TurnContext) -> ToolOutcome:
        record_id = arguments[id_field]
        if find(context, key, record_id) is None:
            return missing(kind, record_id)
        return write_outcome(
            {"deleted": record_id},
            {"type": "delete_record", "table": table, "data": {"id": record_id}},
        )

    return run


def created(table: str, kind: str):
    def run(arguments: dict[str, Any], context: TurnContext) -> ToolOutcome:
        return write_outcome(
            {"created": kind, "fields": sorted(arguments)},
            {"type": "create_record", "table": table, "data": arguments},
        )

    return run


def change_tools(table: str, key: str, kind: str, fields: dict[str, Any], hint: str = ""):
    """``update_<kind>`` (only the fields given change) and ``delete_<kind>`` for one table."""
    id_field = f"{kind}_id"
    return (
        Tool(
            f"update_{kind}",
            f"Change fields of one {kind}; only the fields given change.{hint}",
            parameters([id_field], **{id_field: ID}, **fields),
            changed(table, key, id_field, kind),
            writes=True,
        ),
        Tool(
            f"delete_{kind}",
            f"Delete one {kind}.",
            parameters([id_field], **{id_field: ID}),
            removed(table, key, id_field, kind),
            writes=True,
        ),
    )
