"""The mem0-compatible API through Django's test client: the edges the SDK tests do not reach."""

import pytest

from accounts.services import api_key_create
from interop.mem0_compat.mapping import Entities
from interop.mem0_compat.services import mem0_add
from memories.models import Memory
from memories.services import METADATA_MAX_DEPTH
from memories.tests.factories import nested_metadata


@pytest.fixture
def token(user) -> dict[str, str]:
    _, secret = api_key_create(user=user, name="mem0", scopes=["memories:read", "memories:write"])
    return {"HTTP_AUTHORIZATION": f"Token {secret}"}


def note(user, text: str, **entities: str) -> None:
    messages = [{"role": "user", "content": text}]
    mem0_add(user=user, messages=messages, entities=Entities(**entities), metadata={}, infer=False)


def test_get_all_costs_the_same_queries_for_any_page_size(
    client, user, token, django_assert_num_queries
):
    def listing() -> dict:
        return client.post(
            "/mem0/v3/memories/",
            {"filters": {"user_id": "alice"}},
            content_type="application/json",
            **token,
        ).json()

    note(user, "one", user_id="alice")
    listing()  # the key's first use records it; later uses within the hour do not
    with django_assert_num_queries(3):  # the key, the count, the page
        assert listing()["count"] == 1
    for number in range(5):
        note(user, f"more {number}", user_id="alice")
    with django_assert_num_queries(3):
        assert listing()["count"] == 6


def test_metadata_may_not_claim_an_entity(client, token):
    answer = client.post(
        "/mem0/v3/memories/add/",
        {
            "messages": [{"role": "user", "content": "x"}],
            "user_id": "alice",
            "infer": False,
            "metadata": {"mem0_user_id": "bob"},
        },
        content_type="application/json",
        **token,
    )

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "VALIDATION_ERROR"


def test_a_metadata_filter_matches_scalars_and_says_so_in_the_schema(client, token):
    answer = client.post(
        "/mem0/v3/memories/",
        {"filters": {"user_id": "alice", "metadata": {"topic": {"nested": 1}}}},
        content_type="application/json",
        **token,
    )

    assert answer.status_code == 400
    details = answer.json()["error"]["details"]
    assert details == {"filters": {"metadata": {"topic": ["Only scalar values can be matched."]}}}
    schema = client.get("/api/schema/", {"format": "json"}).json()
    metadata = schema["components"]["schemas"]["Mem0Filter"]["properties"]["metadata"]
    kinds = metadata["additionalProperties"]["anyOf"]
    assert {kind["type"] for kind in kinds} == {"string", "number", "boolean"}


def test_add_needs_an_entity(client, token):
    answer = client.post(
        "/mem0/v3/memories/add/",
        {"messages": [{"role": "user", "content": "x"}], "infer": False},
        content_type="application/json",
        **token,
    )

    assert answer.status_code == 400


def test_a_wildcard_delete_is_refused_not_answered_as_done(client, user, token):
    note(user, "Kept", user_id="alice")

    answer = client.delete("/mem0/v1/memories/?user_id=*", **token)

    assert answer.status_code == 400
    assert answer.json()["error"]["details"]["user_id"] == ["An id; wildcards are not served."]
    assert Memory.objects.filter(user=user).count() == 1


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("expiration_date", "2030-01-01"),
        ("immutable", True),
        ("custom_categories", [{"travel": "Trips"}]),
        ("custom_instructions", "Only keep food preferences."),
    ],
)
def test_an_option_engram_does_not_serve_is_refused_not_dropped(client, user, token, option, value):
    body = {"messages": [{"role": "user", "content": "I fly to Lisbon"}], "user_id": "alice"}

    refused = client.post(
        "/mem0/v3/memories/add/", {**body, option: value}, content_type="application/json", **token
    )
    # What asks for nothing (as a client's defaults may send) passes.
    asked_nothing = client.post(
        "/mem0/v3/memories/add/",
        {**body, "infer": False, "immutable": False, "expiration_date": None},
        content_type="application/json",
        **token,
    )

    assert refused.status_code == 400
    assert list(refused.json()["error"]["details"]) == [option]
    assert asked_nothing.status_code == 200
    assert Memory.objects.filter(user=user).count() == 1


def test_infer_without_a_language_model_stores_the_messages_as_they_are(client, user, token):
    answer = client.post(
        "/mem0/v3/memories/add/",
        {"messages": [{"role": "user", "content": "I like tea"}], "user_id": "alice"},
        content_type="application/json",
        **token,
    )

    assert answer.status_code == 200
    body = answer.json()
    assert (body["status"], body["inferred"], body["event_id"]) == ("SUCCEEDED", False, None)
    assert body["reason"].startswith("No language model is available for memory extraction")
    assert [item["memory"] for item in body["results"]] == ["I like tea"]
    assert user.memories.get().metadata == {"mem0_user_id": "alice"}
    assert not user.extraction_jobs.exists()


def test_the_openapi_document_tags_the_compat_api_and_names_the_mcp_endpoint(client):
    schema = client.get("/api/schema/?format=json").json()

    compat = {path for path in schema["paths"] if path.startswith("/mem0/")}
    assert "/mem0/v3/memories/add/" in compat and "/mem0/v1/batch/" in compat
    tags = {
        tuple(operation["tags"]) for path in compat for operation in schema["paths"][path].values()
    }
    assert tags == {("mem0 compatibility",)}
    assert "POST /mcp" in schema["info"]["description"]


def test_timestamp_dates_the_memory_and_one_past_year_9999_is_refused(client, user, token):
    def add(timestamp: int):
        return client.post(
            "/mem0/v3/memories/add/",
            {"messages": [{"role": "user", "content": f"at {timestamp}"}], "user_id": "alice",
             "infer": False, "timestamp": timestamp},
            content_type="application/json",
            **token,
        )  # fmt: skip

    assert add(1_700_000_000).status_code == 200
    assert user.memories.get().created_at.timestamp() == 1_700_000_000
    assert add(10**12).status_code == 400


@pytest.mark.parametrize(
    ("depth", "status"), [(METADATA_MAX_DEPTH, 200), (METADATA_MAX_DEPTH + 1, 400)]
)
def test_metadata_has_the_same_depth_limit_as_every_other_door(client, user, token, depth, status):
    answer = client.post(
        "/mem0/v3/memories/add/",
        {
            "messages": [{"role": "user", "content": "x"}],
            "user_id": "alice",
            "infer": False,
            "metadata": nested_metadata(depth),
        },
        content_type="application/json",
        **token,
    )

    assert answer.status_code == status, answer.content
    assert Memory.objects.filter(user=user).exists() == (status == 200)
