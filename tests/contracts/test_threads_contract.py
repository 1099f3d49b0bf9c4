"""The threads design (002): a sidebar and a per-model tab strip built from the thread list and
detail (active models, last message, summary, total count, the per-model map), and its rename
at PATCH /threads/{id}/title. Engram's names are snake_case (docs/contracts.md)."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat.models import Message, ModelContext
from chat.selectors import LAST_MESSAGE_PREVIEW_CHARS
from chat.tests.factories import MessageFactory, ThreadFactory
from llm.loading import LoadJob, LoadState
from llm.tests.test_models_api import wait_for_load
from testing.fake_openai import PullScript
from testing.live import free_port

pytestmark = pytest.mark.django_db
THREADS = "/api/v1/threads"
MINI, LLAMA = "gpt-4o-mini", "meta-llama/llama-3.1-8b"


def message(thread, model_id: str, minutes_ago: int, **fields) -> Message:
    created = MessageFactory(thread=thread, model_id=model_id, **fields)
    at = timezone.now() - dt.timedelta(minutes=minutes_ago)
    Message.objects.filter(pk=created.pk).update(created_at=at)
    created.created_at = at
    return created


@pytest.fixture
def conversation(user):
    """A thread where mini spoke first and was summarized, then llama answered last."""
    thread = ThreadFactory(user=user, title="Architecture")
    message(thread, MINI, 30)
    message(thread, MINI, 29, role=Message.Role.ASSISTANT)
    message(thread, LLAMA, 5)
    last = message(thread, LLAMA, 4, role=Message.Role.ASSISTANT, content="x" * 1000)
    ModelContext.objects.create(thread=thread, model_id=MINI, summary="We compared patterns.")
    return thread, last


def test_list_items_carry_active_models_last_message_summary_and_a_total(
    auth_client, user, conversation
):
    thread, last = conversation
    ThreadFactory(user=user, title="Older")  # no messages yet

    page = auth_client.get(THREADS, {"limit": 1, "order_by": "created_at", "order": "asc"}).json()

    assert page["total_count"] == 2 and page["has_more"]
    item = page["results"][0]
    assert item["id"] == str(thread.pk)
    assert item["message_count"] == 4
    assert item["active_models"] == [LLAMA, MINI]
    assert item["summary"] == "We compared patterns."
    assert item["last_message"] == {
        "id": str(last.pk),
        "model_id": LLAMA,
        "role": "assistant",
        "status": "complete",
        "content": "x" * LAST_MESSAGE_PREVIEW_CHARS,
        "created_at": last.created_at.isoformat().replace("+00:00", "Z"),
    }
    empty = auth_client.get(THREADS, {"q": "older"}).json()["results"][0]
    assert (empty["active_models"], empty["last_message"], empty["summary"]) == ([], None, None)


def test_detail_has_the_per_model_map(auth_client, conversation):
    thread, last = conversation

    models = auth_client.get(f"{THREADS}/{thread.pk}").json()["models"]

    assert list(models) == [LLAMA, MINI]
    assert models[LLAMA]["message_count"] == 2
    assert models[LLAMA]["last_message_at"] == last.created_at.isoformat().replace("+00:00", "Z")
    assert models[LLAMA]["summary"] == "" and models[LLAMA]["summary_updated_at"] is None
    assert models[MINI]["message_count"] == 2
    assert models[MINI]["summary"] == "We compared patterns."
    assert models[MINI]["summary_updated_at"] is not None


def test_the_list_costs_the_same_queries_for_any_number_of_threads(auth_client, user):
    def queries_for_a_page() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert auth_client.get(THREADS, {"limit": 100}).status_code == 200
        return len(captured)

    for thread in ThreadFactory.create_batch(2, user=user):
        message(thread, MINI, 3)
    few = queries_for_a_page()
    for thread in ThreadFactory.create_batch(20, user=user):
        message(thread, MINI, 2)
        message(thread, LLAMA, 1)
        ModelContext.objects.create(thread=thread, model_id=MINI, summary="s")

    assert queries_for_a_page() == few


def test_patch_title_renames(auth_client, other_client, user):
    thread = ThreadFactory(user=user, title="Untitled")

    renamed = auth_client.patch(f"{THREADS}/{thread.pk}/title", {"title": "Lisbon trip"})
    blank = auth_client.patch(f"{THREADS}/{thread.pk}/title", {"title": ""})
    strangers = other_client.patch(f"{THREADS}/{thread.pk}/title", {"title": "Mine"})

    assert renamed.status_code == 200
    assert renamed.json()["title"] == "Lisbon trip" and renamed.json()["id"] == str(thread.pk)
    assert renamed.json()["title_generated"] is False
    assert blank.status_code == 400 and blank.json()["error"]["code"] == "VALIDATION_ERROR"
    assert strangers.status_code == 404
    thread.refresh_from_db()
    assert thread.title == "Lisbon trip"


# --- Provider keys verified on save ------------------------------------------------------------

KEYS = "/api/v1/auth/provider-keys"


def test_a_key_the_provider_accepts_is_verified(auth_client, llm_upstream):
    saved = auth_client.put(f"{KEYS}/openai", {"api_key": "sk-good-key-1234"})

    assert saved.status_code == 200
    assert saved.json()["verified"] is True and saved.json()["last_four"] == "1234"
    asked = llm_upstream.last_request  # the models list: no tokens spent
    assert (asked.method, asked.path) == ("GET", "/v1/models")
    assert asked.authorization == "Bearer sk-good-key-1234"
    assert "sk-good-key-1234" not in saved.content.decode()


def test_a_key_the_provider_refuses_is_saved_and_says_so(auth_client, llm_upstream):
    llm_upstream.rejected_keys.add("sk-wrong-key-5678")

    saved = auth_client.put(f"{KEYS}/openai", {"api_key": "sk-wrong-key-5678"})

    assert saved.status_code == 200 and saved.json()["verified"] is False
    assert [k["last_four"] for k in auth_client.get(KEYS).json()] == ["5678"]


def test_a_provider_that_is_down_never_fails_the_save(auth_client, llm_upstream, settings):
    down = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    settings.LLM_PROVIDERS = {
        **settings.LLM_PROVIDERS,
        "openai": {**settings.LLM_PROVIDERS["openai"], "base_url": down},
    }

    saved = auth_client.put(f"{KEYS}/openai", {"api_key": "sk-some-key-0000"})

    assert saved.status_code == 200 and saved.json()["verified"] is None
    assert [k["last_four"] for k in auth_client.get(KEYS).json()] == ["0000"]


def test_a_provider_whose_list_cannot_tell_is_not_asked(auth_client, llm_upstream):
    # Anthropic's models list wants its own header: asking it with ours would say "refused".
    saved = auth_client.put(f"{KEYS}/anthropic", {"api_key": "sk-ant-key-9999"})

    assert saved.status_code == 200 and saved.json()["verified"] is None
    assert llm_upstream.requests == []


# --- Local model status: memory, last loaded, estimated load time --------------------------------

LOCAL = "llama3.1:8b"


def test_a_loaded_local_models_status_says_its_memory_as_ollama_reports_it(
    auth_client, llm_upstream
):
    llm_upstream.local_models.add(LOCAL)
    llm_upstream.running_models[LOCAL] = {
        "size": 5_137_025_024,
        "size_vram": 4_000_000_000,
        "expires_at": "2026-01-15T10:35:00.5-07:00",
    }

    status = auth_client.get(f"/api/v1/models/{LOCAL}/status").json()

    assert status["status"] == "loaded"
    assert status["memory_bytes"] == 5_137_025_024
    assert status["memory_vram_bytes"] == 4_000_000_000
    assert status["in_memory_until"] == "2026-01-15T10:35:00.5-07:00"
    assert status["estimated_load_seconds"] is None


def test_a_pulled_model_not_in_memory_has_no_memory_figures(auth_client, llm_upstream):
    llm_upstream.local_models.add(LOCAL)

    status = auth_client.get(f"/api/v1/models/{LOCAL}/status").json()

    assert status["status"] == "loaded"
    assert (status["memory_bytes"], status["memory_vram_bytes"], status["in_memory_until"]) == (
        None,
        None,
        None,
    )


def test_last_loaded_is_when_the_last_load_finished(auth_client, llm_upstream):
    llm_upstream.script_pull(PullScript(layers=1, steps=2))
    before = timezone.now()

    auth_client.post(f"/api/v1/models/{LOCAL}/load")
    wait_for_load(LOCAL)
    status = auth_client.get(f"/api/v1/models/{LOCAL}/status").json()

    loaded = dt.datetime.fromisoformat(status["last_loaded"])
    assert before - dt.timedelta(seconds=1) <= loaded <= timezone.now()
    assert status["status"] == "loaded" and status["estimated_load_seconds"] is None


def test_a_running_load_estimates_the_rest_from_its_rate():
    # Half of 8 MB in 10 s: the other half should take 10 s more.
    job = LoadJob(
        job_id="j", model_id=LOCAL, state=LoadState.LOADING, started_at=100.0,
        updated_at=110.0, completed=4_000_000, total=8_000_000,
    )  # fmt: skip

    assert job.remaining_seconds == 10
    assert LoadJob(**{**job.__dict__, "completed": 0}).remaining_seconds is None
