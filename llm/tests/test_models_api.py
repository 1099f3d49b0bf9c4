"""The model endpoints through their URLs: catalog, status, and loading local models."""

import json
import time

import pytest

from llm.api import views
from llm.loading import LoadState, current_load
from testing.fake_openai import PullScript

pytestmark = pytest.mark.django_db


def sse_events(response) -> list[tuple[str, dict]]:
    """(event, data) pairs of a finished SSE response; comments are skipped."""
    events = []
    for frame in b"".join(response.streaming_content).decode().split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in frame.splitlines() if line and not line.startswith(":")
        )
        if fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


def wait_for_load(model_id: str, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = current_load(model_id)
        if job is not None and job.state != LoadState.LOADING:
            return job
        time.sleep(0.01)
    raise AssertionError(f"the load of {model_id} did not finish")


def test_models_need_authentication(api_client):
    response = api_client.get("/api/v1/models")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_FAILED"


def test_the_catalog_lists_every_model_with_availability(
    auth_client, llm_upstream, settings, django_assert_max_num_queries
):
    settings.LLM_PROVIDERS = {
        **settings.LLM_PROVIDERS,
        "anthropic": {**settings.LLM_PROVIDERS["anthropic"], "api_key": ""},
    }

    with django_assert_max_num_queries(2):  # the user, and their provider keys
        response = auth_client.get("/api/v1/models")

    assert response.status_code == 200
    models = {m["id"]: m for m in response.json()["models"]}
    mini = models["gpt-4o-mini"]
    assert mini == {
        "id": "gpt-4o-mini",
        "name": "GPT-4o mini",
        "description": "",
        "provider": "openai",
        "provider_name": "OpenAI",
        "context_length": 128000,
        "max_output_tokens": 4096,
        "capabilities": ["chat", "streaming", "vision", "tools", "json"],
        "pricing": {"input_per_million": 0.15, "output_per_million": 0.6, "currency": "USD"},
        "temperature": {"min": 0.0, "max": 2.0, "default": 0.7},
        "api_key_required": True,
        "local": False,
        "requires_loading": False,
        "available": True,
        "unavailable_reason": None,
        "key_source": "server",
    }
    assert models["gpt-4o"]["available"] is False  # the server key serves gpt-4o-mini only
    assert models["claude-haiku-4-5"]["unavailable_reason"] == {
        "code": "api_key_required",
        "message": "Add your own Anthropic API key to use Claude Haiku 4.5.",
    }
    assert models["llama3.1:8b"]["requires_loading"] is True
    assert models["llama3.1:8b"]["key_source"] == "none"


def test_one_model_by_an_id_with_a_slash_or_a_colon(auth_client, llm_upstream):
    slash = auth_client.get("/api/v1/models/meta-llama/llama-3.1-8b-instruct")
    colon = auth_client.get("/api/v1/models/llama3.1:8b")

    assert slash.status_code == 200 and slash.json()["provider"] == "openrouter"
    assert colon.status_code == 200 and colon.json()["local"] is True


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/models/gpt-9",
        "/api/v1/models/gpt-9/status",
        "/api/v1/models/no/such/model/load/stream",
    ],
)
def test_an_unknown_model_is_a_404_in_the_error_shape(auth_client, url):
    response = auth_client.get(url, HTTP_ACCEPT="text/event-stream" if "stream" in url else "*/*")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_loading_an_unknown_model_is_a_404(auth_client):
    response = auth_client.post("/api/v1/models/gpt-9/load")

    assert response.status_code == 404


def test_every_model_view_opens_to_chat_api_keys():
    for view in (
        views.ModelListView,
        views.ModelDetailView,
        views.ModelStatusView,
        views.ModelLoadView,
        views.ModelLoadStreamView,
    ):
        assert view.scope_family == "chat"


def test_a_remote_models_status(auth_client, llm_upstream):
    available = auth_client.get("/api/v1/models/gpt-4o-mini/status").json()
    unavailable = auth_client.get("/api/v1/models/gpt-4o/status").json()

    assert available == {
        "model_id": "gpt-4o-mini",
        "status": "available",
        "available": True,
        "unavailable_reason": None,
        "load": None,
        "error": None,
        "memory_bytes": None,
        "memory_vram_bytes": None,
        "in_memory_until": None,
        "last_loaded": None,
        "estimated_load_seconds": None,
    }
    assert unavailable["status"] == "unavailable"
    assert unavailable["unavailable_reason"]["code"] == "api_key_required"


def test_a_local_models_status_follows_ollama(auth_client, llm_upstream):
    before = auth_client.get("/api/v1/models/llama3.1:8b/status").json()
    llm_upstream.local_models.add("llama3.1:8b")
    after = auth_client.get("/api/v1/models/llama3.1:8b/status").json()

    assert before["status"] == "not_loaded" and before["available"] is True
    assert after["status"] == "loaded"


def test_an_unreachable_ollama_makes_local_models_unavailable(auth_client, settings):
    settings.LLM_PROVIDERS = {
        **settings.LLM_PROVIDERS,
        "ollama": {"base_url": "http://127.0.0.1:9", "api_key": "", "models": ["*"]},
    }

    body = auth_client.get("/api/v1/models/llama3.1:8b/status").json()

    assert body["status"] == "unavailable"
    assert body["unavailable_reason"]["code"] == "provider_unreachable"


def test_loading_a_local_model_pulls_it_in_the_background(auth_client, llm_upstream):
    llm_upstream.script_pull(PullScript(layers=2, steps=3, delay=0.01))

    response = auth_client.post("/api/v1/models/llama3.1:8b/load")

    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "loading"
    assert body["stream_url"] == "/api/v1/models/llama3.1:8b/load/stream"
    job = wait_for_load("llama3.1:8b")
    assert job.job_id == body["job_id"] and job.state == LoadState.LOADED
    assert job.completed == job.total == 8_000_000
    assert llm_upstream.last_request.json == {"model": "llama3.1:8b", "stream": True}
    status = auth_client.get("/api/v1/models/llama3.1:8b/status").json()
    assert status["status"] == "loaded" and status["load"]["percent"] == 100


def test_a_second_load_while_one_runs_returns_the_running_one(auth_client, llm_upstream):
    llm_upstream.script_pull(PullScript(steps=20, delay=0.02))

    first = auth_client.post("/api/v1/models/gemma2:2b/load").json()
    second = auth_client.post("/api/v1/models/gemma2:2b/load").json()

    assert first["job_id"] == second["job_id"]
    wait_for_load("gemma2:2b")
    assert len([r for r in llm_upstream.requests if r.path == "/api/pull"]) == 1


def test_loading_a_remote_model_is_refused(auth_client, llm_upstream):
    response = auth_client.post("/api/v1/models/gpt-4o-mini/load")

    assert response.status_code == 400
    assert "not a local model" in response.json()["error"]["message"]


def test_loading_without_ollama_configured_is_refused(auth_client, settings):
    settings.LLM_PROVIDERS = {
        **settings.LLM_PROVIDERS,
        "ollama": {"base_url": "", "api_key": "", "models": ["*"]},
    }

    response = auth_client.post("/api/v1/models/llama3.1:8b/load")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "MODEL_UNAVAILABLE"


def test_the_load_stream_reports_progress_then_complete(auth_client, llm_upstream):
    llm_upstream.script_pull(PullScript(layers=1, steps=4, delay=0.05))
    auth_client.post("/api/v1/models/llama3.1:8b/load")

    response = auth_client.get(
        "/api/v1/models/llama3.1:8b/load/stream", HTTP_ACCEPT="text/event-stream"
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    assert response["X-Accel-Buffering"] == "no" and response["Cache-Control"] == "no-cache"
    events = sse_events(response)
    names = [name for name, _ in events]
    assert names[-1] == "complete" and set(names[:-1]) == {"progress"} and len(names) >= 3
    assert all(data["status"] == "loading" for _, data in events[:-1])
    percents = [data["load"]["percent"] for _, data in events[:-1] if data["load"]["percent"]]
    assert percents == sorted(percents)
    assert events[-1][1]["status"] == "loaded" and events[-1][1]["load"]["percent"] == 100


def test_the_load_stream_reports_a_failed_pull(auth_client, llm_upstream):
    llm_upstream.script_pull(PullScript(steps=4, delay=0.02, error_after=3, error="disk full"))
    auth_client.post("/api/v1/models/qwen2.5:7b/load")

    events = sse_events(auth_client.get("/api/v1/models/qwen2.5:7b/load/stream"))

    name, data = events[-1]
    assert name == "error" and data["status"] == "error"
    assert "disk full" in data["error"]
    status = auth_client.get("/api/v1/models/qwen2.5:7b/status").json()
    assert status["status"] == "error" and "disk full" in status["error"]


def test_the_load_stream_without_a_load_says_the_status_and_ends(auth_client, llm_upstream):
    not_loaded = sse_events(auth_client.get("/api/v1/models/gemma2:2b/load/stream"))
    llm_upstream.local_models.add("gemma2:2b")
    loaded = sse_events(auth_client.get("/api/v1/models/gemma2:2b/load/stream"))

    assert [(n, d["status"]) for n, d in not_loaded] == [("status", "not_loaded")]
    assert [(n, d["status"]) for n, d in loaded] == [("complete", "loaded")]
