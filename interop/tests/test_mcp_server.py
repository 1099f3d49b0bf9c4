"""The official mcp client over streamable HTTP against a live Engram at /mcp: the tools act as
the API key's owner, through the same services as the REST API."""

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from memories.models import Memory, MemoryHistory
from memories.services import METADATA_MAX_DEPTH, MemoryDraft, memory_create
from memories.tests.factories import nested_metadata
from testing.fake_openai import Reply

pytestmark = pytest.mark.django_db(transaction=True)
TOOLS = {
    "add_memory",
    "search_memories",
    "list_memories",
    "get_memory",
    "update_memory",
    "delete_memory",
    "delete_all_memories",
    "extract_memories",
    "get_job",
    # interop/mcp_server/task_tools.py (interop/tests/test_mcp_tasks.py)
    "list_tasks",
    "create_task",
    "update_task",
    "complete_task",
}


@asynccontextmanager
async def mcp_session(url: str, secret: str | None) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        streamable_http_client(f"{url}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def over_mcp(url: str, secret: str | None, steps: Callable[[ClientSession], Awaitable[Any]]):
    """Run ``steps`` in an initialized session (database work stays outside, in the test)."""

    async def run() -> Any:
        async with mcp_session(url, secret) as session:
            return await steps(session)

    return asyncio.run(run())


async def call(session: ClientSession, tool: str, **arguments: Any) -> tuple[bool, Any]:
    result = await session.call_tool(tool, arguments)
    assert result.content and result.content[0].text  # always a readable text too
    return result.is_error, result.structured_content


def test_initialize_lists_the_tools_and_resources(engram, user, key_for):
    async def steps(session: ClientSession):
        return await session.list_tools(), await session.list_resources()

    tools, resources = over_mcp(engram, key_for(user), steps)

    assert {tool.name for tool in tools.tools} == TOOLS
    assert all(tool.description for tool in tools.tools)
    delete_all = next(tool for tool in tools.tools if tool.name == "delete_all_memories")
    assert "confirm" in delete_all.input_schema["properties"]
    assert "memory://summary" in {str(resource.uri) for resource in resources.resources}


def test_every_tool_acts_on_the_keys_owner(engram, user, key_for, fake_openai):
    user.tier = "pro"  # more calls than the free tier's 20 a minute
    user.save()
    fake_openai.script(Reply(text=json.dumps({"facts": ["Dana works at Acme"]})))

    async def steps(session: ClientSession) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        _, added = await call(session, "add_memory", content="I use PostgreSQL", tags=["db"])
        memory_id = added["memory"]["id"]
        seen["added"], seen["again"] = (
            added,
            (await call(session, "add_memory", content="I use PostgreSQL"))[1],
        )
        seen["search"] = (await call(session, "search_memories", query="PostgreSQL", top_k=5))[1]
        seen["list"] = (await call(session, "list_memories", filters={"tag": "db"}))[1]
        seen["get"] = (await call(session, "get_memory", memory_id=memory_id))[1]
        seen["update"] = (
            await call(session, "update_memory", memory_id=memory_id, content="I use Postgres 16")
        )[1]
        conversation = [{"role": "user", "content": "I work at Acme."}]
        _, job = await call(session, "extract_memories", messages=conversation, agent_id="crm")
        # The server runs tasks off the request path: the job finishes after its answer.
        for _ in range(200):
            seen["job"] = (await call(session, "get_job", job_id=job["id"]))[1]
            if seen["job"]["status"] not in {"queued", "running"}:
                break
            await asyncio.sleep(0.05)
        summary = await session.read_resource("memory://summary")
        seen["summary"] = summary.contents[0].text
        one = await session.read_resource(f"memory://memories/{memory_id}")
        seen["resource"] = json.loads(one.contents[0].text)
        seen["delete"] = await call(session, "delete_memory", memory_id=memory_id)
        seen["unconfirmed"] = await call(session, "delete_all_memories")
        seen["mistyped"] = await call(session, "search_memories", query="x", top_k="many")
        # A misspelt argument or filter is refused, not ignored (ignored, it widens the read).
        seen["misspelt"] = [
            await call(session, "list_memories", tag="travel"),
            await call(session, "list_memories", filters={"tags": ["travel"]}),
            await call(session, "search_memories", query="x", filters={"tag": ["travel"]}),
        ]
        seen["loosely"] = [
            (await session.call_tool("delete_all_memories", {"confirm": value})).is_error
            for value in ("yes", 1, "true")
        ]
        seen["delete_all"] = await call(session, "delete_all_memories", confirm=True)
        seen["after"] = (await call(session, "list_memories"))[1]
        return seen

    seen = over_mcp(engram, key_for(user), steps)

    memory_id = seen["added"]["memory"]["id"]
    assert seen["added"]["created"] is True and seen["again"]["created"] is False
    assert seen["again"]["memory"]["id"] == memory_id
    assert [hit["id"] for hit in seen["search"]["results"]] == [memory_id]
    assert [memory["id"] for memory in seen["list"]["results"]] == [memory_id]
    assert seen["get"]["content"] == "I use PostgreSQL"
    assert seen["update"]["content"] == "I use Postgres 16"
    assert seen["job"]["status"] == "succeeded"
    assert [(op["event"], op["text"]) for op in seen["job"]["operations"]] == [
        ("ADD", "Dana works at Acme")
    ]
    assert seen["summary"]
    assert seen["resource"]["id"] == memory_id
    assert seen["delete"] == (False, {"deleted": memory_id})
    is_error, refusal = seen["unconfirmed"]
    assert is_error and refusal["error"]["code"] == "VALIDATION_ERROR"
    assert seen["loosely"] == [True, True, True]  # only a JSON true deletes everything
    is_error, mistyped = seen["mistyped"]
    assert is_error and mistyped["error"]["code"] == "VALIDATION_ERROR"
    assert list(mistyped["error"]["details"]) == ["top_k"]
    assert [(is_error, refusal["error"]["code"], list(refusal["error"]["details"]))
            for is_error, refusal in seen["misspelt"]] == [
        (True, "VALIDATION_ERROR", ["tag"]),
        (True, "VALIDATION_ERROR", ["filters.tags"]),
        (True, "VALIDATION_ERROR", ["filters"]),
    ]  # fmt: skip
    assert seen["delete_all"] == (False, {"deleted": 1})  # the fact the job added
    assert seen["after"]["results"] == []
    assert not Memory.objects.filter(user=user).exists()
    assert not MemoryHistory.objects.filter(user=user).exists()  # delete-all takes history too


def test_no_key_or_a_wrong_key_is_refused(engram):
    answer = httpx2.post(
        f"{engram}/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
        headers={"X-Request-ID": "trace-1"},
    )

    assert answer.status_code == 401
    assert answer.headers["x-request-id"] == answer.json()["error"]["request_id"] == "trace-1"
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert answer.json()["error"]["code"] == "AUTHENTICATION_FAILED"
    foreign = httpx2.post(f"{engram}/mcp", json={}, headers={"Host": "evil.example"})
    assert foreign.status_code == 400
    for secret in (None, "egm_not-a-key"):
        with pytest.raises(ExceptionGroup):  # the client's task group reports the 401
            over_mcp(engram, secret, lambda session: session.list_tools())


def test_no_idle_event_stream_is_opened(engram, user, key_for):
    answer = httpx2.get(f"{engram}/mcp", headers={"Authorization": f"Bearer {key_for(user)}"})

    assert answer.status_code == 405 and answer.headers["allow"] == "POST"
    assert answer.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert over_mcp(engram, key_for(user), lambda session: session.list_tools())  # POST works


def test_a_key_without_the_scope_cannot_use_the_tool(engram, user, key_for):
    async def steps(session: ClientSession):
        return (
            await call(session, "add_memory", content="Nope"),
            await call(session, "search_memories", query="anything"),
        )

    (write_error, refusal), (read_error, _) = over_mcp(
        engram, key_for(user, ["memories:read"]), steps
    )

    assert write_error and not read_error
    assert refusal["error"]["code"] == "PERMISSION_DENIED"
    assert refusal["error"]["details"]["required_scope"] == "memories:write"
    assert not Memory.objects.filter(user=user).exists()


def test_another_users_memory_is_not_found(engram, user, other_user, key_for):
    theirs, _ = memory_create(user=other_user, draft=MemoryDraft(content="Private"))

    async def steps(session: ClientSession):
        outcomes = [
            await call(session, "get_memory", memory_id=str(theirs.pk)),
            await call(session, "update_memory", memory_id=str(theirs.pk), content="Mine"),
            await call(session, "delete_memory", memory_id=str(theirs.pk)),
        ]
        found = (await call(session, "search_memories", query="Private"))[1]
        return outcomes, found

    outcomes, found = over_mcp(engram, key_for(user), steps)

    assert all(is_error for is_error, _ in outcomes)
    assert {refusal["error"]["code"] for _, refusal in outcomes} == {"NOT_FOUND"}
    assert found["results"] == []
    theirs.refresh_from_db()
    assert theirs.content == "Private"


def test_metadata_has_the_rest_apis_depth_limit_and_an_export_imports_again(
    engram, user, key_for, api_client
):
    async def steps(session: ClientSession):
        return (
            await call(
                session,
                "add_memory",
                content="Deepest",
                metadata=nested_metadata(METADATA_MAX_DEPTH),
            ),
            await call(session, "add_memory", content="Deeper", metadata=nested_metadata(100)),
        )

    (kept_error, _), (deep_error, refusal) = over_mcp(engram, key_for(user), steps)

    assert not kept_error and deep_error
    assert refusal["error"]["code"] == "VALIDATION_ERROR"
    assert list(Memory.objects.filter(user=user).values_list("content", flat=True)) == ["Deepest"]
    api_client.force_authenticate(user)
    exported = b"".join(api_client.get("/api/v1/memories/export").streaming_content)
    Memory.objects.filter(user=user).delete()
    imported = api_client.generic(
        "POST", "/api/v1/memories/import", exported, content_type="application/x-ndjson"
    )
    assert imported.status_code == 200, imported.content
    assert imported.json()["created"] == 1


def test_tool_calls_count_against_the_tiers_rate_limit(engram, user, key_for):
    # The server's per-minute window may turn over during the calls (its clock is its own), so
    # the 21st call of a window is found among 41: the first 20 always pass.
    async def steps(session: ClientSession):
        outcomes = []
        for _ in range(41):
            outcomes.append(await call(session, "list_memories"))
            if outcomes[-1][0]:
                break
        return outcomes

    outcomes = over_mcp(engram, key_for(user), steps)

    assert [is_error for is_error, _ in outcomes[:20]] == [False] * 20
    is_error, refusal = outcomes[-1]
    assert is_error and refusal["error"]["code"] == "RATE_LIMITED"
