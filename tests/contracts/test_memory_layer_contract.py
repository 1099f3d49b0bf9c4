"""The memory layer design (000): its health checks say how the vector indexes stand, and its
performance metrics include each process's memory, also when several processes serve."""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import IntegrityError, connection
from prometheus_client.parser import text_string_to_metric_families

from accounts.tests.factories import UserFactory
from backups.services import vector_index_build, vector_indexes_drop_stale
from core import metrics
from core.vector_index import index_drop, index_name

INDEX_KINDS = ("backups_hnsw", "memories_hnsw")


@contextmanager
def failed_index() -> Iterator[str]:
    """A per-user index whose build failed half-way, as CREATE INDEX CONCURRENTLY leaves it:
    there, not valid (a unique index over two accounts of one tier cannot be built)."""
    UserFactory.create_batch(2)
    name = index_name("memories_hnsw", uuid.uuid4(), "a model")
    with pytest.raises(IntegrityError), connection.cursor() as cursor:
        cursor.execute(f"CREATE UNIQUE INDEX CONCURRENTLY {name} ON accounts_user (tier)")
    try:
        yield name
    finally:
        index_drop(name)


def _counts(answer) -> dict[str, dict[str, int]]:
    assert answer.status_code == 200
    none = {"valid": 0, "not_valid": 0}
    return {kind: answer.json()["indexes"].get(kind, none) for kind in INDEX_KINDS}


@pytest.mark.django_db(transaction=True)
def test_readiness_counts_valid_and_failed_per_user_indexes(client):
    # Counted against what was there: an index another test of this process left is counted too.
    before = _counts(client.get("/health/ready"))
    owner = UserFactory()
    assert vector_index_build(user_id=owner.pk, dimensions=3)
    try:
        with failed_index():
            after = _counts(client.get("/health/ready"))
    finally:
        vector_indexes_drop_stale(user_id=owner.pk)

    assert after["backups_hnsw"] == {
        "valid": before["backups_hnsw"]["valid"] + 1,
        "not_valid": before["backups_hnsw"]["not_valid"],
    }
    assert after["memories_hnsw"] == {
        "valid": before["memories_hnsw"]["valid"],
        "not_valid": before["memories_hnsw"]["not_valid"] + 1,
    }


@pytest.mark.django_db
def test_metrics_show_process_memory_in_multi_process_mode(client, tmp_path, monkeypatch):
    # As a process of `manage.py serve` is set up (core/tests/test_metrics.py runs two).
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setattr(metrics, "MULTIPROCESS", True)
    monkeypatch.setattr(metrics, "MULTIPROCESS_DIR", str(tmp_path))

    answer = client.get("/metrics")

    assert answer.status_code == 200
    rss = {
        sample.labels["pid"]: sample.value
        for family in text_string_to_metric_families(answer.content.decode())
        if family.name == "process_resident_memory_bytes"
        for sample in family.samples
    }
    assert rss.get(str(os.getpid()), 0) > 0


def test_the_root_says_what_the_server_is(client):
    answer = client.get("/", HTTP_ACCEPT="application/json")

    assert answer.status_code == 200
    assert answer.json()["name"] == "Engram" and answer.json()["version"]
    assert answer.json()["links"]["api_docs"] == "/api/docs/"
