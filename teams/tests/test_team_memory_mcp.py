"""Team memories through the MCP server (the official client against a live server): a member
finds their team's memories; a member of another team and a non-member never do."""

import pytest
from mcp import ClientSession

from accounts.services import api_key_create
from accounts.tests.factories import UserFactory
from interop.tests.test_mcp_server import call, over_mcp
from memories.services import MemoryDraft, memory_create
from teams.services import organisation_create
from teams.tests.conftest import join

pytestmark = pytest.mark.django_db(transaction=True)


def test_mcp_search_includes_ones_teams_memories_and_never_another_teams(engram):
    a, b, outsider = UserFactory(), UserFactory(), UserFactory()
    team_a = organisation_create(owner=UserFactory(), name="A")
    team_b = organisation_create(owner=UserFactory(), name="B")
    join(team_a, a), join(team_b, b)
    in_a, _ = memory_create(user=team_a.space, draft=MemoryDraft(content="Kestrel rollout plan"))

    def search(user, **extra) -> dict:
        secret = api_key_create(user=user, name="mcp", scopes=["memories:read"])[1]

        async def steps(session: ClientSession):
            return await call(session, "search_memories", query="kestrel rollout",
                              mode="keyword", **extra)  # fmt: skip

        is_error, body = over_mcp(engram, secret, steps)
        assert not is_error, body
        return body

    hits = search(a)["results"]
    assert [(h["id"], h["organisation_id"]) for h in hits] == [(str(in_a.pk), str(team_a.pk))]
    assert search(a, include_team="none")["results"] == []
    assert search(b)["results"] == []
    assert search(outsider)["results"] == []
    secret = api_key_create(user=b, name="mcp", scopes=["memories:read"])[1]

    async def elsewhere(session: ClientSession):
        return await call(session, "search_memories", query="kestrel",
                          include_team=f"team:{team_a.pk}")  # fmt: skip

    is_error, refusal = over_mcp(engram, secret, elsewhere)
    assert is_error and refusal["error"]["code"] == "NOT_FOUND"
