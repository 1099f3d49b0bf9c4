"""Which API-key scope every endpoint needs: a scope follows what the endpoint does (a search
sent by POST reads), not its HTTP method. The table lists every route that takes API keys; a
new route fails the completeness test until it is added here."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from accounts.models import ApiScope
from accounts.services import api_key_create
from core.api import ApiView

pytestmark = pytest.mark.django_db
ANY_ID = "00000000-0000-4000-8000-000000000000"
READ, WRITE, CHAT = ApiScope.MEMORIES_READ, ApiScope.MEMORIES_WRITE, ApiScope.CHAT
S_READ, S_WRITE = ApiScope.STORAGE_READ, ApiScope.STORAGE_WRITE
T_READ, T_WRITE = ApiScope.TASKS_READ, ApiScope.TASKS_WRITE
# (method, path with placeholders filled) -> the one scope it needs; None: no API key at all.
TABLE = {
    ("GET", "/api/v1/memories"): READ,
    ("POST", "/api/v1/memories"): WRITE,
    ("DELETE", "/api/v1/memories"): WRITE,
    ("POST", "/api/v1/memories/prompts"): WRITE,
    ("POST", "/api/v1/memories/bulk"): WRITE,
    ("POST", "/api/v1/memories/search"): READ,
    ("GET", "/api/v1/memories/export"): READ,
    ("POST", "/api/v1/memories/import"): WRITE,
    ("GET", "/api/v1/memories/stats"): READ,
    ("GET", "/api/v1/memories/summary"): READ,
    ("POST", "/api/v1/memories/extract"): WRITE,
    ("GET", f"/api/v1/memories/{ANY_ID}"): READ,
    ("PATCH", f"/api/v1/memories/{ANY_ID}"): WRITE,
    ("DELETE", f"/api/v1/memories/{ANY_ID}"): WRITE,
    ("POST", f"/api/v1/memories/{ANY_ID}/response"): WRITE,
    ("GET", f"/api/v1/memories/{ANY_ID}/history"): READ,
    ("POST", f"/api/v1/memories/{ANY_ID}/revert"): WRITE,
    ("GET", f"/api/v1/jobs/{ANY_ID}"): READ,
    # A team's memories (teams/): the same scopes as one's own.
    ("GET", f"/api/v1/teams/{ANY_ID}/memories"): READ,
    ("POST", f"/api/v1/teams/{ANY_ID}/memories"): WRITE,
    ("GET", f"/api/v1/teams/{ANY_ID}/memories/{ANY_ID}"): READ,
    ("DELETE", f"/api/v1/teams/{ANY_ID}/memories/{ANY_ID}"): WRITE,
    # Disconnect revokes the calling key (connect/): a connected extension's key can.
    ("DELETE", "/api/v1/connect/key"): WRITE,
    ("GET", "/api/v1/models"): CHAT,
    ("GET", "/api/v1/models/gpt-4o-mini"): CHAT,
    ("GET", "/api/v1/models/no-such-model/status"): CHAT,
    ("POST", "/api/v1/models/no-such-model/load"): CHAT,
    ("GET", "/api/v1/models/no-such-model/load/stream"): CHAT,
    ("GET", "/api/v1/threads"): CHAT,
    ("POST", "/api/v1/threads"): CHAT,
    ("GET", f"/api/v1/threads/{ANY_ID}"): CHAT,
    ("PATCH", f"/api/v1/threads/{ANY_ID}"): CHAT,
    ("PUT", f"/api/v1/threads/{ANY_ID}"): CHAT,
    ("POST", "/api/v1/threads/new/models/gpt-4o-mini/messages"): CHAT,
    ("PATCH", f"/api/v1/threads/{ANY_ID}/title"): CHAT,
    ("DELETE", f"/api/v1/threads/{ANY_ID}"): CHAT,
    ("GET", f"/api/v1/threads/{ANY_ID}/models/gpt-4o-mini/messages"): CHAT,
    ("POST", f"/api/v1/threads/{ANY_ID}/models/gpt-4o-mini/messages"): CHAT,
    ("POST", f"/api/v1/threads/{ANY_ID}/models/gpt-4o-mini/summarize"): CHAT,
    ("POST", "/v1/chat/completions"): CHAT,
    ("GET", "/v1/models"): CHAT,
    ("GET", "/api/v1/storage/records"): S_READ,
    ("POST", "/api/v1/storage/records"): S_WRITE,
    ("GET", f"/api/v1/storage/records/{ANY_ID}"): S_READ,
    ("PUT", f"/api/v1/storage/records/{ANY_ID}"): S_WRITE,
    ("DELETE", f"/api/v1/storage/records/{ANY_ID}"): S_WRITE,
    ("POST", "/api/v1/storage/vectors"): S_WRITE,
    ("DELETE", "/api/v1/storage/vectors"): S_WRITE,
    ("POST", "/api/v1/storage/vectors/upsert"): S_WRITE,
    ("POST", "/api/v1/storage/vectors/search"): S_READ,
    ("POST", "/api/v1/storage/vectors/delete"): S_WRITE,
    ("GET", "/api/v1/storage/vectors/items/some-id"): S_READ,
    ("GET", "/api/v1/backup"): S_READ,
    ("PUT", "/api/v1/backup"): S_WRITE,
    ("GET", "/api/v1/backup/history"): S_READ,
    ("GET", f"/api/v1/backup/{ANY_ID}"): S_READ,
    ("DELETE", f"/api/v1/backup/{ANY_ID}"): S_WRITE,
    ("POST", "/api/v1/backup/uploads"): S_WRITE,
    ("GET", f"/api/v1/backup/uploads/{ANY_ID}"): S_READ,
    ("DELETE", f"/api/v1/backup/uploads/{ANY_ID}"): S_WRITE,
    ("PUT", f"/api/v1/backup/uploads/{ANY_ID}/parts/1"): S_WRITE,
    ("POST", f"/api/v1/backup/uploads/{ANY_ID}/complete"): S_WRITE,
    ("GET", "/api/v1/tasks"): T_READ,
    ("POST", "/api/v1/tasks"): T_WRITE,
    ("GET", "/api/v1/tasks/stats"): T_READ,
    ("POST", "/api/v1/tasks/suggestions"): T_WRITE,
    ("GET", f"/api/v1/tasks/{ANY_ID}"): T_READ,
    ("PATCH", f"/api/v1/tasks/{ANY_ID}"): T_WRITE,
    ("DELETE", f"/api/v1/tasks/{ANY_ID}"): T_WRITE,
    ("GET", f"/api/v1/tasks/{ANY_ID}/comments"): T_READ,
    ("POST", f"/api/v1/tasks/{ANY_ID}/comments"): T_WRITE,
    ("DELETE", f"/api/v1/task-comments/{ANY_ID}"): T_WRITE,
    ("GET", "/api/v1/projects"): T_READ,
    ("POST", "/api/v1/projects"): T_WRITE,
    ("GET", f"/api/v1/projects/{ANY_ID}"): T_READ,
    ("PATCH", f"/api/v1/projects/{ANY_ID}"): T_WRITE,
    ("DELETE", f"/api/v1/projects/{ANY_ID}"): T_WRITE,
    ("GET", "/api/v1/recurrences"): T_READ,
    ("POST", "/api/v1/recurrences"): T_WRITE,
    ("GET", f"/api/v1/recurrences/{ANY_ID}"): T_READ,
    ("PATCH", f"/api/v1/recurrences/{ANY_ID}"): T_WRITE,
    ("DELETE", f"/api/v1/recurrences/{ANY_ID}"): T_WRITE,
}
# Account management takes a signed-in session only.
ACCOUNT = [
    ("GET", "/api/v1/auth/me"),
    ("POST", "/api/v1/auth/password"),
    ("POST", "/api/v1/auth/email"),
    ("POST", "/api/v1/auth/email/verification"),
    ("GET", "/api/v1/auth/api-keys"),
    ("POST", "/api/v1/auth/api-keys"),
    ("GET", "/api/v1/auth/provider-keys"),
    ("GET", "/api/v1/auth/sign-in-methods"),
    ("DELETE", "/api/v1/auth/linked-accounts/1"),
    # The browser session's pair: the session cookie only.
    ("POST", "/api/v1/auth/session/tokens"),
]


def _api_views(resolver=None, prefix: str = ""):
    """(route, view class) of every DRF view in the URLconf."""
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            yield from _api_views(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            view_class = getattr(entry.callback, "view_class", None)
            if view_class is not None and issubclass(view_class, ApiView):
                yield prefix + str(entry.pattern), view_class


def test_the_table_covers_every_endpoint_that_takes_api_keys():
    handled = {
        (method.upper(), route)
        for route, view in _api_views()
        if view.scope_family is not None
        for method in ("get", "post", "patch", "put", "delete")
        if hasattr(view, method)
    }

    assert len(handled) == len(TABLE), sorted(handled)


@pytest.mark.parametrize(("method", "path"), ACCOUNT)
def test_account_management_refuses_every_key(keys, method, path):
    for scope, client in keys.items():
        response = getattr(client, method.lower())(path, {}, format="json")
        assert response.status_code == 403, (scope, response.content)


@pytest.fixture
def keys(user, settings):
    settings.RATELIMIT_ENABLE = False
    clients = {}
    for scope in ApiScope.values:
        _, secret = api_key_create(user=user, name=scope, scopes=[scope])
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        clients[scope] = client
    return clients


@pytest.mark.parametrize(("method", "path"), list(TABLE))
def test_each_endpoint_needs_its_scope_and_no_other(keys, method, path):
    needed = TABLE[(method, path)]

    for scope, client in keys.items():
        response = getattr(client, method.lower())(path, {}, format="json")
        refused = response.status_code == 403 and (
            response.json()["error"]["details"].get("required_scope") == needed
        )
        assert refused == (scope != needed), (scope, response.status_code, response.content)


def test_task_suggestions_read_memories_so_a_key_needs_memories_read_too(user):
    def suggest(scopes: list[str]):
        _, secret = api_key_create(user=user, name="+".join(scopes), scopes=scopes)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        return client.post("/api/v1/tasks/suggestions")

    tasks_only = suggest([T_WRITE])
    both = suggest([T_WRITE, READ])

    assert tasks_only.status_code == 403
    assert tasks_only.json()["error"]["details"]["required_scope"] == READ
    assert both.status_code != 403  # past the scopes (the model's availability decides next)
