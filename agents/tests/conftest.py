"""Shared data for agent tests: a client's context, and a helper to post a turn."""

import json
from datetime import UTC, datetime

import pytest

from accounts.tests.factories import UserFactory
from billing.tiers import Tier
from conftest import bearer_client

CHAT_URL = "/api/v1/chat"


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


@pytest.fixture
def context() -> dict:
    """What a client sends: tasks (one due today, one done, one later), projects, notes,
    checkpoints and a little conversation."""
    today = now_ms()
    return {
        "user_profile": {"name": "Ada", "timezone": "UTC"},
        "recent_tasks": [
            {
                "id": "t-1",
                "title": "Send the invoice",
                "status": "todo",
                "priority": "high",
                "due_date": today,
                "project_id": "p-1",
                "comments": [{"id": "c-1", "author": "Ada", "content": "Ask Bob for the total"}],
            },
            {"id": "t-2", "title": "Book flights", "status": "done", "due_date": today},
            {"id": "t-3", "title": "Plan the offsite", "status": "in_progress", "priority": "low"},
        ],
        "projects": [
            {"id": "p-1", "name": "Website", "client_id": "acme", "status": "active"},
            {"id": "p-2", "name": "Old brochure", "client_id": "acme", "status": "archived"},
        ],
        "notes": [
            {
                "id": "n-1",
                "title": "API design",
                "content": "# API\nUse cursors.",
                "project_id": "p-1",
            }
        ],
        "checkpoints": [
            {"id": "k-2", "project_id": "p-1", "title": "Launch", "date": today + 86_400_000},
            {"id": "k-1", "project_id": "p-1", "title": "Beta", "date": today},
        ],
        "conversation_history": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello Ada"},
        ],
    }


@pytest.fixture
def pro_user(db):
    return UserFactory(tier=Tier.PRO)


@pytest.fixture
def pro_client(pro_user):
    return bearer_client(pro_user)


def tool_messages(request) -> list[dict]:
    """The tool results a model request carried back to the model, parsed."""
    return [
        {**m, "content": json.loads(m["content"])}
        for m in request.json["messages"]
        if m.get("role") == "tool"
    ]


def system_prompt(request) -> str:
    return request.json["messages"][0]["content"]
