"""Shared team memory: members of A read, find and get recalled A's memories; a non-member and
a member of B never do, over REST, search, chat recall and mem0's API (MCP: its own module)."""

import json

import pytest

from accounts.services import api_key_create
from accounts.tests.factories import UserFactory
from agents.models import AgentRun
from billing.tiers import Tier
from chat.tests.factories import ThreadFactory
from conftest import bearer_client
from memories.models import Memory
from memories.services import MemoryDraft, memories_embed, memory_create
from teams.models import AuditAction, AuditEvent, Role
from teams.services import organisation_create
from teams.tests.conftest import TEAMS, join, remember
from testing.fake_openai import Reply
from testing.isolation import assert_invisible_to

pytestmark = pytest.mark.django_db
SEARCH = "/api/v1/memories/search"
STAGING = "The staging database password rotates every Friday at noon."
WIFI = "The Lisbon office wifi network is called sardine-net."


def labelled(principal, text: str) -> Memory:
    """A memory with mem0's user_id label, so mem0's API (which needs one) can find it."""
    draft = MemoryDraft(content=text, metadata={"mem0_user_id": "alice"})
    memory, _ = memory_create(user=principal, draft=draft)
    memories_embed(memory_ids=[memory.pk])
    return memory


@pytest.fixture
def world(db):
    """Team A (owner, member a) and team B (member b), an outsider, a memory in each team."""
    a, b, outsider = (UserFactory(email=f"{n}@example.com") for n in ("a", "b", "outsider"))
    team_a = organisation_create(owner=UserFactory(), name="A")
    team_b = organisation_create(owner=UserFactory(), name="B")
    join(team_a, a), join(team_b, b)
    return {
        "a": a, "b": b, "outsider": outsider, "team_a": team_a, "team_b": team_b,
        "in_a": labelled(team_a.space, STAGING), "in_b": labelled(team_b.space, WIFI),
    }  # fmt: skip


def found(client, query: str, **body) -> list[dict]:
    answer = client.post(SEARCH, {"query": query, **body}, format="json")
    assert answer.status_code == 200, answer.content
    return answer.json()["results"]


def ids(hits: list[dict]) -> list[str]:
    return [hit["id"] for hit in hits]


def test_rest_members_read_their_teams_memories_and_nobody_elses(world):
    a, b, outsider = (bearer_client(world[n]) for n in ("a", "b", "outsider"))
    team_a, in_a, in_b = world["team_a"], world["in_a"], world["in_b"]

    listed = a.get(f"{TEAMS}/{team_a.pk}/memories").json()["results"]
    assert [m["id"] for m in listed] == [str(in_a.pk)]
    assert a.get(f"{TEAMS}/{team_a.pk}/memories/{in_a.pk}").json()["content"] == STAGING
    for client in (b, outsider):
        assert_invisible_to(client, [
            ("GET", f"{TEAMS}/{team_a.pk}/memories"),
            ("GET", f"{TEAMS}/{team_a.pk}/memories/{in_a.pk}"),
            ("DELETE", f"{TEAMS}/{team_a.pk}/memories/{in_a.pk}"),
            ("POST", f"{TEAMS}/{team_a.pk}/memories"),
            ("GET", f"/api/v1/memories/{in_a.pk}"),
        ])  # fmt: skip
    # A member of A reaches B's memory by no path: not through A's, not as their own.
    assert_invisible_to(a, [
        ("GET", f"{TEAMS}/{team_a.pk}/memories/{in_b.pk}"),
        ("GET", f"{TEAMS}/{world['team_b'].pk}/memories/{in_b.pk}"),
        ("GET", f"/api/v1/memories/{in_a.pk}"),
    ])  # fmt: skip


def test_search_finds_ones_teams_memories_beside_ones_own_and_never_another_teams(world):
    a, b, outsider = (bearer_client(world[n]) for n in ("a", "b", "outsider"))
    own = remember(world["a"], "I keep the staging database notes in a paper notebook.")
    team_a = world["team_a"]

    hits = found(a, "staging database password")
    assert {h["id"]: h["organisation_id"] for h in hits} == {
        str(world["in_a"].pk): str(team_a.pk), str(own.pk): None
    }  # fmt: skip
    # Semantic search answers everything it may reach, best first: never the other team's.
    assert str(world["in_b"].pk) not in ids(found(a, "Lisbon office wifi sardine"))
    assert ids(found(b, "staging database password")) == [str(world["in_b"].pk)]
    assert found(outsider, "staging database password") == []
    # Choosing: none, and a team one is not in (as if it did not exist).
    assert ids(found(a, "staging database", include_team="none")) == [str(own.pk)]
    refused = b.post(SEARCH, {"query": "staging", "include_team": f"team:{team_a.pk}"},
                     format="json")  # fmt: skip
    assert refused.status_code == 404
    # Reading team memories is audited.
    read = AuditEvent.objects.filter(organisation=team_a, action=AuditAction.MEMORY_READ)
    assert read.filter(actor=world["a"]).exists() and not read.exclude(actor=world["a"]).exists()


def test_the_per_member_default_and_leaving(world):
    a = bearer_client(world["a"])
    team_a = world["team_a"]
    a.patch(f"{TEAMS}/{team_a.pk}/membership", {"include_in_search": False}, format="json")
    assert found(a, "staging database password") == []
    assert len(found(a, "staging database password", include_team="all")) == 1

    assert a.delete(f"{TEAMS}/{team_a.pk}/membership").status_code == 204

    assert found(a, "staging database password", include_team="all") == []
    assert a.get(f"{TEAMS}/{team_a.pk}/memories").status_code == 404


def test_writes_only_by_the_roles_that_may(world):
    team_a = world["team_a"]
    a = bearer_client(world["a"])
    written = a.post(f"{TEAMS}/{team_a.pk}/memories", {"content": "Standup at 9:30."},
                     format="json")  # fmt: skip
    assert written.status_code == 201
    assert Memory.objects.get(pk=written.json()["id"]).user_id == team_a.space_id
    team_a.members_write = False
    team_a.save()

    refused = a.post(f"{TEAMS}/{team_a.pk}/memories", {"content": "Lunch at 12."}, format="json")

    assert refused.status_code == 403 and refused.json()["error"]["code"] == "PERMISSION_DENIED"
    assert refused.json()["error"]["details"] == {
        "role": "member",
        "allowed_roles": ["admin", "owner"],
    }
    assert a.delete(f"{TEAMS}/{team_a.pk}/memories/{written.json()['id']}").status_code == 403
    admin = UserFactory()
    join(team_a, admin, Role.ADMIN)
    assert bearer_client(admin).post(f"{TEAMS}/{team_a.pk}/memories", {"content": "Lunch at 12."},
                                     format="json").status_code == 201  # fmt: skip
    assert AuditEvent.objects.filter(organisation=team_a, action=AuditAction.MEMORY_WRITTEN,
                                     actor=admin).exists()  # fmt: skip


def _chat(user, llm_upstream, question: str, **body) -> dict:
    thread = ThreadFactory(user=user, title="t")
    llm_upstream.script(Reply(text="Noted."))
    answer = bearer_client(user).post(
        f"/api/v1/threads/{thread.pk}/models/gpt-4o-mini/messages",
        {"content": question, **body},
        format="json",
    )
    assert answer.status_code == 200, answer.content
    return answer.json()["assistant_message"]


def test_chat_recall_brings_ones_teams_memories_and_never_another_teams(world, llm_upstream):
    question = "When does the staging database password rotate?"
    space_before = Memory.objects.filter(user=world["team_a"].space).count()

    recalled = _chat(world["a"], llm_upstream, question)["memories_used"]
    assert str(world["in_a"].pk) in [m["id"] for m in recalled]
    assert (
        "staging database password" in llm_upstream.chat_requests[0].json["messages"][0]["content"]
    )
    for other in ("b", "outsider"):
        recalled = _chat(world[other], llm_upstream, question)["memories_used"]
        assert str(world["in_a"].pk) not in [m["id"] for m in recalled]
    # What the member said in chat is theirs: nothing moved into the team's space by itself.
    assert Memory.objects.filter(user=world["team_a"].space).count() == space_before


def test_a_chat_turn_chooses_the_teams_recalled_as_search_does(world, llm_upstream):
    question = "When does the staging database password rotate?"
    a, in_a, team_b = world["a"], world["in_a"], world["team_b"]

    def recalled(**body) -> list[str]:
        return [m["id"] for m in _chat(a, llm_upstream, question, **body)["memories_used"]]

    assert str(in_a.pk) in recalled(include_team="all")
    assert str(in_a.pk) in recalled(include_team=f"team:{world['team_a'].pk}")
    assert str(in_a.pk) not in recalled(include_team="none")
    thread = ThreadFactory(user=a, title="t")
    refused = bearer_client(a).post(
        f"/api/v1/threads/{thread.pk}/models/gpt-4o-mini/messages",
        {"content": question, "include_team": f"team:{team_b.pk}"},
        format="json",
    )
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "NOT_FOUND"
    assert not thread.messages.exists()


def test_the_openai_compatible_endpoint_takes_the_team_scope_as_a_header(world, llm_upstream):
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "staging password?"}]}

    def sent(scope: str) -> str:
        llm_upstream.script(Reply(text="Fridays."))
        answer = bearer_client(world["a"]).post(
            "/v1/chat/completions", body, format="json", HTTP_X_ENGRAM_INCLUDE_TEAM=scope
        )
        assert answer.status_code == 200, answer.content
        return json.dumps(llm_upstream.chat_requests[-1].json["messages"])

    assert STAGING in sent("all") and STAGING not in sent("none")
    refused = bearer_client(world["a"]).post(
        "/v1/chat/completions", body, format="json", HTTP_X_ENGRAM_INCLUDE_TEAM="everyone"
    )
    assert refused.status_code == 400
    assert "X-Engram-Include-Team" in refused.json()["error"]["details"]


def test_mem0_search_includes_ones_teams_and_never_another_teams(world, client):
    def search(user, **extra) -> list[str]:
        _, secret = api_key_create(user=user, name="mem0", scopes=["memories:read"])
        answer = client.post("/mem0/v3/memories/search/",
                             {"query": "staging database password", "filters": {"user_id": "alice"},
                              **extra}, content_type="application/json",
                             HTTP_AUTHORIZATION=f"Token {secret}")  # fmt: skip
        assert answer.status_code == 200, answer.content
        return [hit["id"] for hit in answer.json()["results"]]

    assert str(world["in_a"].pk) in search(world["a"])
    assert search(world["a"], include_team="none") == []
    assert str(world["in_a"].pk) not in search(world["b"])
    assert search(world["outsider"]) == []


def test_agents_recall_ones_teams_memories_and_never_another_teams(world, llm_upstream):
    question = "When does the staging database password rotate?"

    def prompt(user) -> str:
        user.tier = Tier.PRO
        user.save()
        llm_upstream.script(Reply(text="Fridays."))
        answer = bearer_client(user).post(
            "/api/v1/chat", {"message": question, "agents": ["memory"]}, format="json"
        )
        assert answer.status_code == 200, answer.content
        return llm_upstream.chat_requests[-1].json["messages"][0]["content"]

    assert STAGING in prompt(world["a"])
    assert AuditEvent.objects.filter(organisation=world["team_a"], actor=world["a"],
                                     action=AuditAction.MEMORY_READ).exists()  # fmt: skip
    for other in ("b", "outsider"):
        assert STAGING not in prompt(world[other])


def test_an_agent_turn_chooses_the_teams_recalled(world, llm_upstream):
    member = world["a"]
    member.tier = Tier.PRO
    member.save()
    client = bearer_client(member)

    def prompt(**scope) -> str:
        llm_upstream.script(Reply(text="Fridays."))
        body = {"message": "When does the staging password rotate?", "agents": ["memory"]}
        answer = client.post("/api/v1/chat", {**body, **scope}, format="json")
        assert answer.status_code == 200, answer.content
        return llm_upstream.chat_requests[-1].json["messages"][0]["content"]

    assert STAGING in prompt(include_team=f"team:{world['team_a'].pk}")
    assert STAGING not in prompt(include_team="none")
    runs = AgentRun.objects.count()
    refused = client.post(
        "/api/v1/chat",
        {"message": "Anything?", "include_team": f"team:{world['team_b'].pk}"},
        format="json",
    )
    assert refused.status_code == 404 and AgentRun.objects.count() == runs
    malformed = client.post("/api/v1/chat", {"message": "x", "include_team": "b"}, format="json")
    assert malformed.status_code == 400 and "include_team" in malformed.json()["error"]["details"]
