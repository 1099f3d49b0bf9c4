"""mem0 entities and filters on Engram's scopes and metadata."""

import pytest

from core.errors import ValidationFailed
from interop.mem0_compat.mapping import Entities, entities_from, filters_from
from memories.selectors import MemoryFilters


def test_user_and_run_make_the_session_scope_agent_stays_as_it_is():
    entities = Entities(user_id="a:b", agent_id="bot", run_id="r/1")

    assert entities.scope() == {"agent_id": "bot", "session_id": "mem0:a%3Ab:r%2F1"}
    assert (
        Entities(user_id="a", run_id="b:c").scope() != Entities(user_id="a:b", run_id="c").scope()
    )
    assert entities.metadata() == {
        "mem0_user_id": "a:b",
        "mem0_agent_id": "bot",
        "mem0_run_id": "r/1",
    }


def test_entity_ids_must_be_short_strings():
    with pytest.raises(ValidationFailed):
        entities_from({"user_id": ["alice"]})
    with pytest.raises(ValidationFailed):
        entities_from({"user_id": "x" * 101})


def test_and_or_filters_become_alternatives():
    alternatives = filters_from(
        {"AND": [{"OR": [{"user_id": "alice"}, {"user_id": "bob"}]}, {"agent_id": "bot"}]}
    )

    assert alternatives == [
        MemoryFilters(metadata={"mem0_user_id": "alice", "mem0_agent_id": "bot"}),
        MemoryFilters(metadata={"mem0_user_id": "bob", "mem0_agent_id": "bot"}),
    ]


def test_contradictory_filters_match_nothing():
    assert filters_from({"AND": [{"user_id": "alice"}, {"user_id": "bob"}]}) == []


def test_a_filter_without_an_entity_is_refused():
    with pytest.raises(ValidationFailed):
        filters_from({"metadata": {"topic": "food"}})
    with pytest.raises(ValidationFailed):
        filters_from({"OR": [{"user_id": "alice"}, {"metadata": {"topic": "food"}}]})
    with pytest.raises(ValidationFailed):
        filters_from({})


def test_unknown_filters_and_wildcards_are_refused():
    for expression in ({"categories": {"in": ["x"]}}, {"user_id": "*"}, {"OR": []}, ["x"]):
        with pytest.raises(ValidationFailed):
            filters_from(expression, entities=Entities(user_id="alice"))


def test_dates_bound_created_at():
    [only] = filters_from(
        {"user_id": "a", "created_at": {"gte": "2026-01-01", "lte": "2026-01-31"}}
    )

    assert only.since.isoformat() == "2026-01-01T00:00:00+00:00"
    assert only.until.isoformat() == "2026-02-01T00:00:00+00:00"
