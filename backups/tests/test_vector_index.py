"""Client-side vector search per user, as memories': exact below the threshold, the user's own
partial HNSW index past it (built after commit, outside the request), isolation either way."""

import hashlib

import numpy as np
import pytest
from django.db import connection

from backups import selectors, services
from backups.models import EncryptedVector
from backups.services import VectorDraft
from backups.tests.conftest import make_user
from core import vector_index

pytestmark = pytest.mark.django_db
DIMS = 24


def drafts(vectors: np.ndarray, prefix: str, table: str = "") -> list[VectorDraft]:
    return [
        VectorDraft(
            key=f"{prefix}{i}",
            vector=[float(x) for x in vector],
            blob=f"{prefix}{i}".encode(),
            checksum=hashlib.sha256(f"{prefix}{i}".encode()).hexdigest(),
            table=table,
        )
        for i, vector in enumerate(vectors)
    ]


@pytest.fixture
def heavy_and_light(settings, local_blobs, django_capture_on_commit_callbacks):
    """``heavy`` past the threshold (its index built by the task upsert scheduled), ``light``
    below it, with vectors drawn from the same space (the light user's closer to queries)."""
    settings.STORAGE_HNSW_USER_THRESHOLD = 30
    rng = np.random.default_rng(7)
    heavy, light = make_user(), make_user()
    with django_capture_on_commit_callbacks(execute=True):
        services.vectors_upsert(user=light, drafts=drafts(rng.normal(size=(10, DIMS)), "l"))
        services.vectors_upsert(user=heavy, drafts=drafts(rng.normal(size=(20, DIMS)), "a"))
        services.vectors_upsert(
            user=heavy, drafts=drafts(rng.normal(size=(20, DIMS)), "b", table="notes")
        )
    return heavy, light, rng


def exact(user, vector, top_k, table=None):
    sql, params, _ = selectors.vectors_query(
        user=user, vector=vector, top_k=top_k, table=table, indexed=False
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(key, round(score, 5)) for key, score, _ in cursor.fetchall()]


def test_a_user_past_the_threshold_gets_an_index_whose_answers_equal_the_exact_scan(
    heavy_and_light,
):
    heavy, light, rng = heavy_and_light
    name = selectors.vector_index_name(user_id=heavy.pk, dimensions=DIMS)
    assert vector_index.index_valid(name)
    assert selectors.vector_index_names(user_id=light.pk) == []

    for table in (None, "notes"):
        for query in rng.normal(size=(5, DIMS)).tolist():
            rows, path = selectors.vectors_ranked(user=heavy, vector=query, top_k=5, table=table)
            assert path == "hnsw"
            assert [(key, round(score, 5)) for key, score, _ in rows] == exact(
                heavy, query, 5, table
            )
            assert {key[0] for key, *_ in rows} <= {"a", "b"}  # never the light user's


def test_the_index_is_what_the_planner_scans(heavy_and_light):
    heavy, _, rng = heavy_and_light
    services.vectors_upsert(user=heavy, drafts=drafts(rng.normal(size=(1000, DIMS)), "c"))
    sql, params, ef_search = selectors.vectors_query(
        user=heavy, vector=rng.normal(size=DIMS).tolist(), top_k=5, table=None, indexed=True
    )
    with vector_index.hnsw_session(ef_search) as cursor:
        cursor.execute(f"ANALYZE {EncryptedVector._meta.db_table}")  # as autovacuum would
        # At a thousand 24-dimension rows pgvector 0.8's costs rightly prefer sorting every
        # distance: forbid the sort to see that the partial index can answer the statement.
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert selectors.vector_index_name(user_id=heavy.pk, dimensions=DIMS) in plan


def test_a_light_user_is_searched_exactly_and_never_sees_anothers_vectors(heavy_and_light):
    heavy, light, rng = heavy_and_light
    query = rng.normal(size=DIMS).tolist()

    rows, path = selectors.vectors_ranked(user=light, vector=query, top_k=50, table=None)

    assert path == "exact"
    assert sorted(key for key, *_ in rows) == sorted(f"l{i}" for i in range(10))
    hits = selectors.vectors_nearest(user=heavy, vector=query, top_k=50, table=None)
    assert len(hits) == 40 and not any(hit.key.startswith("l") for hit in hits)


def test_an_index_answering_short_falls_back_to_the_exact_scan(heavy_and_light):
    heavy, _, rng = heavy_and_light
    query = rng.normal(size=DIMS).tolist()

    rows, path = selectors.vectors_ranked(user=heavy, vector=query, top_k=30, table="notes")

    assert path == "hnsw+exact"  # 20 rows of "notes": the index cannot fill 30
    assert [(key, round(score, 5)) for key, score, _ in rows] == exact(heavy, query, 30, "notes")


def test_an_emptied_collection_loses_its_index_and_may_change_dimension(
    heavy_and_light, django_capture_on_commit_callbacks
):
    heavy, _, rng = heavy_and_light
    keys = list(EncryptedVector.objects.filter(user=heavy).values_list("key", flat=True))

    with django_capture_on_commit_callbacks(execute=True):
        services.vectors_delete(user=heavy, keys=keys)
    services.vectors_upsert(user=heavy, drafts=drafts(rng.normal(size=(3, DIMS + 1)), "c"))

    assert selectors.vector_index_names(user_id=heavy.pk) == []
    rows, path = selectors.vectors_ranked(
        user=heavy, vector=rng.normal(size=DIMS + 1).tolist(), top_k=3, table=None
    )
    assert path == "exact" and len(rows) == 3


def test_deleting_a_user_drops_their_index(heavy_and_light, django_capture_on_commit_callbacks):
    heavy, _, _ = heavy_and_light
    user_id = heavy.pk
    assert selectors.vector_index_names(user_id=user_id)

    with django_capture_on_commit_callbacks(execute=True):
        heavy.delete()

    assert selectors.vector_index_names(user_id=user_id) == []
