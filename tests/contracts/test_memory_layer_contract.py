"""The memory layer design (000): its health checks say how the vector indexes stand, and its
performance metrics include each process's memory, also when several processes serve."""

import os
import uuid

import pytest
from django.db import IntegrityError, connection
from prometheus_client.parser import text_string_to_metric_families

from accounts.tests.factories import UserFactory
from backups.services import vector_index_build, vector_indexes_drop_stale
from core import metrics
from core.vector_index import index_drop, index_name


@pytest.fixture
def failed_index() -> str:
    """A per-user index whose build failed half-way, as CREATE INDEX CONCURRENTLY leaves it:
    there, not valid (a unique index over two accounts of one tier cannot be built)."""
    UserFactory.create_batch(2)
    name = index_name("memories_hnsw", uuid.uuid4(), "a model")
    with pytest.raises(IntegrityError), connection.cursor() as cursor:
        cursor.execute(f"CREATE UNIQUE INDEX CONCURRENTLY {name} ON accounts_user (tier)")
    yield name
    index_drop(name)


@pytest.mark.django_db(transaction=True)
def test_readiness_counts_valid_and_failed_per_user_indexes(client, failed_index):
    owner = UserFactory()
    assert vector_index_build(user_id=owner.pk, dimensions=3)
    try:
        answer = client.get("/health/ready")
    finally:
        vector_indexes_drop_stale(user_id=owner.pk)

    assert answer.status_code == 200
    assert answer.json()["indexes"] == {
        "backups_hnsw": {"valid": 1, "not_valid": 0},
        "memories_hnsw": {"valid": 0, "not_valid": 1},
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
