"""Engram's MCP tools and resources (the official ``mcp`` SDK's MCPServer).

Every tool validates its arguments with the memories API's own serializers and calls the same
services and selectors as the REST API, as the user who owns the API key of the request
(``asgi.current_key``), so isolation, quotas, rate limits and history hold. A tool answers
with structured content and a readable text; a refusal is an error result naming Engram's
error code (``NOT_FOUND``, ``PERMISSION_DENIED``, ``VALIDATION_ERROR``…).
"""

import json
from collections.abc import Callable
from contextvars import ContextVar
from typing import Annotated, Any

from channels.db import database_sync_to_async
from django.core.serializers.json import DjangoJSONEncoder
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field, StrictBool, ValidationError

from accounts.models import ApiKey, ApiScope, User
from accounts.ratelimit import user_rate_limit
from core.errors import EngramError, PermissionDenied, ValidationFailed
from memories.api import serializers as s
from memories.extraction import extraction_job_create
from memories.selectors import (
    extraction_job_get,
    memory_get,
    memory_page,
    memory_summary_get,
)
from memories.services import (
    memories_delete_all,
    memory_create,
    memory_delete,
    memory_update,
    summary_refresh,
)
from memories.spaces import memories_search_scoped

# The API key of the request being served, set by the /mcp endpoint once it is authenticated.
current_key: ContextVar[ApiKey] = ContextVar("engram_mcp_api_key")
READ, WRITE = ApiScope.MEMORIES_READ.value, ApiScope.MEMORIES_WRITE.value
SNIPPET_CHARS = 200


class EngramServer(MCPServer):
    """The SDK's server, answering arguments that fail a tool's schema as Engram refuses any
    input: ``VALIDATION_ERROR`` naming each field (the SDK answers with pydantic's text, and
    ignores an argument the tool does not take: a misspelt filter would widen a read)."""

    async def call_tool(self, name: str, arguments: dict[str, Any], context=None):
        taken = {
            tool.name: tool.input_schema.get("properties", {}) for tool in await self.list_tools()
        }
        if name in taken and (unknown := sorted(set(arguments or {}) - set(taken[name]))):
            details = {argument: ["This tool takes no such argument."] for argument in unknown}
            return _refusal(
                ValidationFailed("The tool's arguments are not valid.", details=details)
            )
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            if not isinstance(exc.__cause__, ValidationError):
                raise
            details: dict[str, list[str]] = {}
            for error in exc.__cause__.errors():  # the messages, never the values sent
                field = ".".join(str(part) for part in error["loc"]) or "arguments"
                details.setdefault(field, []).append(error["msg"])
            message = "The tool's arguments are not valid."
            return _refusal(ValidationFailed(message, details=details))


server = EngramServer(
    name="Engram",
    instructions=(
        "Engram is the user's long-term memory. Search it before answering questions that may "
        "depend on what the user told you before (preferences, projects, people, decisions); "
        "save durable facts the user shares with add_memory, one fact per memory; prefer "
        "extract_memories for a whole conversation. Memory ids are UUIDs."
    ),
)

MemoryId = Annotated[str, Field(description="The memory's id (a UUID).")]
Scope = Annotated[str, Field(description="Optional scope: the agent or app the memory is for.")]
Session = Annotated[str, Field(description="Optional scope: a session or conversation.")]


def _json(data: Any) -> Any:
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def _validated(serializer_class, data: dict[str, Any]) -> Any:
    serializer = serializer_class(data={k: v for k, v in data.items() if v is not None})
    if not serializer.is_valid():
        raise ValidationFailed(details=_json(serializer.errors))
    return serializer


def _snippet(memory: dict[str, Any]) -> str:
    text = " ".join(str(memory["content"]).split())
    if len(text) > SNIPPET_CHARS:
        text = text[:SNIPPET_CHARS] + "…"
    return f"[{memory['id']}] {text}"


def _authorized(scope: str) -> User:
    """The key's user, after checking ``scope`` and counting the call against rate limits."""
    key = current_key.get()
    if scope not in key.scopes:
        raise PermissionDenied(
            f"This API key lacks the '{scope}' scope.",
            details={"required_scope": scope, "key_scopes": key.scopes},
        )
    user_rate_limit(key.user)
    return key.user


async def _call(scope: str, work: Callable[[User], tuple[Any, str]]) -> CallToolResult:
    """Run ``work(user)`` off the event loop; its ``(data, text)`` or the refusal, as a result."""

    def run() -> tuple[Any, str]:
        return work(_authorized(scope))

    try:
        data, text = await database_sync_to_async(run)()
    except EngramError as exc:
        return _refusal(exc)
    return CallToolResult(content=[TextContent(text=text)], structured_content=_json(data))


def _refusal(exc: EngramError) -> CallToolResult:
    """Engram's error shape as a tool's error result, with a readable text."""
    error = {"code": str(exc.code), "message": exc.message, "details": _json(exc.details)}
    return CallToolResult(
        content=[TextContent(text=f"{exc.code}: {exc.message}")],
        structured_content={"error": error},
        is_error=True,
    )


def _memory(memory) -> dict[str, Any]:
    return _json(s.MemorySerializer(memory).data)


# --- Tools ---------------------------------------------------------------------------------------


@server.tool(annotations=ToolAnnotations(destructive_hint=False, idempotent_hint=True))
async def add_memory(
    content: Annotated[str, Field(description="The fact or note, self-contained.")],
    tags: Annotated[list[str] | None, Field(description="Short labels.")] = None,
    agent_id: Scope = "",
    session_id: Session = "",
    metadata: Annotated[dict[str, Any] | None, Field(description="Free-form JSON.")] = None,
) -> CallToolResult:
    """Save one memory for the user. Saving the same content in the same scope again returns
    the stored memory (created: false) instead of a copy."""

    def work(user: User) -> tuple[Any, str]:
        arguments = {"content": content, "tags": tags, "agent_id": agent_id}
        arguments |= {"session_id": session_id, "metadata": metadata}
        draft = _validated(s.MemoryCreateSerializer, arguments).to_draft()
        memory, created = memory_create(user=user, draft=draft)
        body = {"memory": _memory(memory), "created": created}
        verb = "Saved" if created else "Already stored"
        return body, f"{verb}: {_snippet(body['memory'])}"

    return await _call(WRITE, work)


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
async def search_memories(
    query: Annotated[str, Field(description="What to look for, in natural language.")],
    mode: Annotated[
        str, Field(description="hybrid (default), semantic (meaning) or keyword (words).")
    ] = "hybrid",
    top_k: Annotated[int, Field(description="How many results, 1-100.")] = 10,
    filters: Annotated[
        dict[str, Any] | None,
        Field(
            description="Optional: agent_id, session_id, provider, source, tags (all must be "
            "present), since, until (ISO 8601), metadata (keys equal to values)."
        ),
    ] = None,
    include_team: Annotated[
        str | None,
        Field(
            description="Team memories searched too: all, none or team:<organisation id>; "
            "left out, the teams the user keeps in their searches."
        ),
    ] = None,
) -> CallToolResult:
    """Find the user's memories (and their teams') that best match a query; best first, each
    with a score."""

    def work(user: User) -> tuple[Any, str]:
        arguments = {"query": query, "mode": mode, "top_k": top_k, "filters": filters}
        if include_team is not None:
            arguments["include_team"] = include_team
        search = _validated(s.SearchSerializer, arguments)
        data = search.validated_data
        outcome = memories_search_scoped(
            user=user,
            query=data["query"],
            include_team=data.get("include_team"),
            mode=data["mode"],
            top_k=data["top_k"],
            filters=search.to_filters(),
        )
        results = [
            {**_memory(sh.hit.memory), "score": sh.hit.score,
             "organisation_id": str(sh.organisation_id) if sh.organisation_id else None}
            for sh in outcome.hits
        ]  # fmt: skip
        lines = [f"{hit['score']:.3f} {_snippet(hit)}" for hit in results]
        text = "\n".join([f"{len(results)} memories ({outcome.mode}):", *lines])
        return {"results": results, "mode": outcome.mode}, text

    return await _call(READ, work)


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
async def list_memories(
    filters: Annotated[
        dict[str, Any] | None,
        Field(description="Optional: agent_id, session_id, provider, source, tag, since, until."),
    ] = None,
    cursor: Annotated[str | None, Field(description="next_cursor of the previous page.")] = None,
    limit: Annotated[int, Field(description="Page size, 1-100.")] = 20,
) -> CallToolResult:
    """List the user's memories, newest first, a page at a time."""

    def work(user: User) -> tuple[Any, str]:
        named = set(s.MemoryListQuerySerializer().fields) - {"cursor", "limit"}
        if unknown := sorted(set(filters or {}) - named):
            raise ValidationFailed(
                details={f"filters.{key}": ["Unknown filter."] for key in unknown}
            )
        arguments = {**(filters or {}), "cursor": cursor, "limit": limit}
        query = _validated(s.MemoryListQuerySerializer, arguments)
        page = memory_page(
            user=user,
            filters=query.to_filters(),
            cursor=query.validated_data.get("cursor") or None,
            limit=query.validated_data["limit"],
        )
        results = [_memory(memory) for memory in page.items]
        body = {"results": results, "next_cursor": page.next_cursor}
        more = f"\nMore: cursor={page.next_cursor}" if page.next_cursor else ""
        return body, "\n".join([f"{len(results)} memories:", *map(_snippet, results)]) + more

    return await _call(READ, work)


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
async def get_memory(memory_id: MemoryId) -> CallToolResult:
    """One memory of the user's, with all its fields."""

    def work(user: User) -> tuple[Any, str]:
        memory = _memory(memory_get(user=user, memory_id=memory_id))
        return memory, memory["content"]

    return await _call(READ, work)


@server.tool(annotations=ToolAnnotations(destructive_hint=True, idempotent_hint=True))
async def update_memory(
    memory_id: MemoryId,
    content: Annotated[str | None, Field(description="The new text.")] = None,
    tags: Annotated[list[str] | None, Field(description="Replaces the tags.")] = None,
    metadata: Annotated[dict[str, Any] | None, Field(description="Replaces it.")] = None,
    agent_id: Annotated[str | None, Field(description="Moves it to this agent scope.")] = None,
    session_id: Annotated[str | None, Field(description="Moves it to this session.")] = None,
) -> CallToolResult:
    """Change a memory (only the fields given). The old text stays in its history."""

    def work(user: User) -> tuple[Any, str]:
        memory = memory_get(user=user, memory_id=memory_id)
        arguments = {"content": content, "tags": tags, "metadata": metadata}
        arguments |= {"agent_id": agent_id, "session_id": session_id}
        changes = _validated(s.MemoryUpdateSerializer, arguments).validated_data
        body = _memory(memory_update(memory=memory, changes=dict(changes)))
        return body, f"Updated: {_snippet(body)}"

    return await _call(WRITE, work)


@server.tool(annotations=ToolAnnotations(destructive_hint=True))
async def delete_memory(memory_id: MemoryId) -> CallToolResult:
    """Delete one memory (its history keeps what it said)."""

    def work(user: User) -> tuple[Any, str]:
        memory_delete(memory=memory_get(user=user, memory_id=memory_id))
        return {"deleted": memory_id}, f"Deleted {memory_id}."

    return await _call(WRITE, work)


@server.tool(annotations=ToolAnnotations(destructive_hint=True))
async def delete_all_memories(
    # Strict: the SDK would read "yes", "1" or "on" as true, and this deletes everything.
    confirm: Annotated[
        StrictBool,
        Field(description="Must be true. Only when the user asked to forget everything."),
    ] = False,
) -> CallToolResult:
    """Delete ALL of the user's memories, their vectors and history. Irreversible: call it only
    when the user explicitly asked for it, with confirm=true."""

    def work(user: User) -> tuple[Any, str]:
        if confirm is not True:
            raise ValidationFailed(
                "This deletes every memory; call again with confirm=true if the user wants that.",
                details={"confirm": ["Must be true to delete all memories."]},
            )
        deleted = memories_delete_all(user=user)
        return {"deleted": deleted}, f"Deleted {deleted} memories."

    return await _call(WRITE, work)


@server.tool()
async def extract_memories(
    messages: Annotated[
        list[dict[str, str]],
        Field(description="The conversation: [{role: user|assistant|system, content}]."),
    ],
    agent_id: Scope = "",
    session_id: Session = "",
    metadata: Annotated[dict[str, Any] | None, Field(description="Stored on each fact.")] = None,
) -> CallToolResult:
    """Turn a conversation into memories in the background: facts are extracted and added, or
    update or delete memories they supersede. Returns a job; follow it with get_job."""

    def work(user: User) -> tuple[Any, str]:
        arguments = {"messages": messages, "agent_id": agent_id, "session_id": session_id}
        data = _validated(s.ExtractSerializer, {**arguments, "metadata": metadata}).validated_data
        job = extraction_job_create(
            user=user,
            messages=data["messages"],
            agent_id=data.get("agent_id", ""),
            session_id=data.get("session_id", ""),
            metadata=data.get("metadata"),
        )
        body = _json(s.ExtractionJobSerializer(extraction_job_get(user=user, job_id=job.pk)).data)
        return body, f"Extraction job {body['id']}: {body['status']}."

    return await _call(WRITE, work)


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
async def get_job(
    job_id: Annotated[str, Field(description="The id extract_memories returned.")],
) -> CallToolResult:
    """An extraction job: its status and, once done, what it did (ADD, UPDATE, DELETE)."""

    def work(user: User) -> tuple[Any, str]:
        body = _json(s.ExtractionJobSerializer(extraction_job_get(user=user, job_id=job_id)).data)
        done = [f"{op['event']}: {op['text'] or op['previous_text']}" for op in body["operations"]]
        return body, "\n".join([f"Job {body['id']}: {body['status']}", *done])

    return await _call(READ, work)


# --- Resources -----------------------------------------------------------------------------------


async def _read(work: Callable[[User], str]) -> str:
    try:
        return await database_sync_to_async(lambda: work(_authorized(READ)))()
    except EngramError as exc:
        raise ResourceError(f"{exc.code}: {exc.message}") from None


@server.resource("memory://summary", name="summary", mime_type="text/plain")
async def memory_summary() -> str:
    """A short profile of what the user's memories are about."""

    def work(user: User) -> str:
        summary = memory_summary_get(user=user) or summary_refresh(user=user)
        return summary.text

    return await _read(work)


@server.resource("memory://memories/{memory_id}", name="memory", mime_type="application/json")
async def memory_resource(memory_id: str) -> str:
    """One memory of the user's, as JSON."""
    return await _read(lambda user: json.dumps(_memory(memory_get(user=user, memory_id=memory_id))))
