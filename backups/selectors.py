"""Reads of encrypted storage, each scoped to its owner."""

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from django.conf import settings
from django.db.models import Count, F, OuterRef, QuerySet, Subquery, Sum, Window
from django.db.models.functions import Coalesce, RowNumber

from accounts.models import User
from backups.blobstore import blobs_bytes
from backups.models import Backup, BackupUpload, EncryptedRecord, EncryptedVector, StoredBlob
from core import vector_index
from core.errors import NotFound
from core.ownership import get_owned_object
from core.pagination import Page, paginate

# The two allowances the tiers sell (billing/tiers.py) and what each counts: cloud storage holds
# the client's records and vectors; backups hold finished backups and the room reserved by
# resumable uploads still open.
CLOUD_STORAGE = "cloud_storage_bytes"
BACKUPS = "backup_bytes"
ALLOWANCE_MODELS: dict[str, tuple[type[StoredBlob], ...]] = {
    CLOUD_STORAGE: (EncryptedRecord, EncryptedVector),
    BACKUPS: (Backup, BackupUpload),
}
StorageAllowance = Literal["cloud_storage_bytes", "backup_bytes"]


def storage_used(*, user: User, allowance: StorageAllowance) -> int:
    """Bytes the user's data counted against ``allowance`` takes (or reserves)."""
    return sum(
        model.objects.filter(user=user).aggregate(n=Coalesce(Sum("size"), 0))["n"]
        for model in ALLOWANCE_MODELS[allowance]
    )


def storage_usage(*, user: User) -> dict[str, int]:
    """Bytes used of each storage allowance, by the tier feature's name: what billing's usage
    answer reads (wired in BILLING_USAGE_METERS, so billing never imports backups)."""
    return {name: storage_used(user=user, allowance=name) for name in ALLOWANCE_MODELS}


def storage_accounts(users: QuerySet[User]) -> QuerySet[User]:
    """``users`` with the count and bytes of their records, vectors and backups (for
    operators; never content): ``records_count``, ``records_bytes``, and so on."""
    kinds = {"records": EncryptedRecord, "vectors": EncryptedVector, "backups": Backup}
    for name, model in kinds.items():
        owned = model.objects.filter(user=OuterRef("pk")).order_by().values("user")
        users = users.annotate(
            **{
                f"{name}_count": Coalesce(Subquery(owned.annotate(n=Count("pk")).values("n")), 0),
                f"{name}_bytes": Coalesce(Subquery(owned.annotate(n=Sum("size")).values("n")), 0),
            }
        )
    return users


# --- Records ---------------------------------------------------------------------------------


def record_get(*, user: User, record_id: Any) -> EncryptedRecord:
    return get_owned_object(EncryptedRecord.objects.all(), owner=user, pk=record_id)


def record_page(
    *, user: User, table: str | None, cursor: str | None, limit: int
) -> Page[EncryptedRecord]:
    records = EncryptedRecord.objects.filter(user=user)
    if table:
        records = records.filter(table=table)
    return paginate(records, cursor=cursor, limit=limit)


# --- Vectors ---------------------------------------------------------------------------------


def vector_get(*, user: User, key: str) -> EncryptedVector:
    # PostgreSQL text cannot hold NUL: such an id names nothing.
    vector = None if "\x00" in key else EncryptedVector.objects.filter(user=user, key=key).first()
    if vector is None:
        raise NotFound("No encrypted vector with this id.")
    return vector


def vector_dimensions(*, user: User) -> int | None:
    """The dimension of the user's vector collection, None while it is empty."""
    return EncryptedVector.objects.filter(user=user).values_list("dimensions", flat=True).first()


@dataclass(frozen=True)
class VectorHit:
    key: str
    score: float
    blob: bytes


VECTOR_INDEX_PREFIX = "backups_hnsw"
# Per process: whether (user id, dimensions) has a ready index.
_READY = vector_index.ReadinessCache()


def vector_index_name(*, user_id: Any, dimensions: int) -> str:
    """The name of the user's partial HNSW index over their vectors of ``dimensions``."""
    return vector_index.index_name(VECTOR_INDEX_PREFIX, user_id, str(int(dimensions)))


def vector_index_names(*, user_id: Any) -> list[str]:
    """Every per-user vector index of the user, whatever its dimension."""
    return vector_index.indexes_named(f"{VECTOR_INDEX_PREFIX}_{uuid.UUID(str(user_id)).hex}_")


def vector_index_ready(*, user_id: Any, dimensions: int) -> bool:
    name = vector_index_name(user_id=user_id, dimensions=dimensions)
    return _READY.ready((str(user_id), dimensions), lambda: vector_index.index_valid(name))


def vector_index_forget(*, user_id: Any, dimensions: int) -> None:
    _READY.forget((str(user_id), dimensions))


def vectors_query(
    *, user: User, vector: Sequence[float], top_k: int, table: str | None, indexed: bool
) -> vector_index.Query:
    """SQL ranking the user's vectors (``key, score, blob key``, best first), its parameters
    and the ``hnsw.ef_search`` it needs: exact over the user's rows (the MATERIALIZED CTE keeps
    any plan from reaching for an index that filters by user after its scan), or through their
    partial HNSW index (``dimensions`` in the predicate as in the index's, so rows of another
    dimension, which a collection emptied and refilled may bring, never meet its cast)."""
    literal = vector_index.vector_literal(vector, digits=9)
    table_sql, table_params = ('AND "table" = %s', [table]) if table else ("", [])
    if not indexed:
        query = f"""
            WITH owned AS MATERIALIZED (
                SELECT key, embedding, blob_key FROM {EncryptedVector._meta.db_table}
                WHERE user_id = %s {table_sql}
            )
            SELECT key, 1 - (embedding <=> %s::vector) AS score, blob_key
            FROM owned ORDER BY embedding <=> %s::vector, key LIMIT %s
        """
        return query, [user.pk, *table_params, literal, literal, top_k], None
    dims = len(vector)
    distance = vector_index.cosine_distance("embedding", dims)
    # The table filter is in the scanned query: the iterative scan goes on until enough pass it.
    query = f"""
        SELECT key, 1 - distance AS score, blob_key FROM (
            SELECT key, blob_key, {distance} AS distance
            FROM {EncryptedVector._meta.db_table}
            WHERE user_id = %s AND dimensions = {dims} {table_sql}
            ORDER BY {distance} LIMIT %s
        ) nearest
        ORDER BY distance, key
    """
    params = [literal, user.pk, *table_params, literal, top_k]
    return query, params, vector_index.ef_search_for(top_k, floor=settings.STORAGE_HNSW_EF_SEARCH)


def vectors_ranked(
    *, user: User, vector: Sequence[float], top_k: int, table: str | None
) -> tuple[list[tuple[str, float, str]], str]:
    """The user's ``top_k`` ``(key, cosine similarity, blob key)`` nearest ``vector``, and the
    path taken ("exact", "hnsw", "hnsw+exact"): through their own HNSW index once it is ready
    (docs/memories-and-search.md, "Multi-tenant vector search"), exact before, or when the index
    answered short."""
    indexed = vector_index_ready(user_id=user.pk, dimensions=len(vector))
    return vector_index.ranked(
        indexed=indexed,
        query=lambda through_index: vectors_query(
            user=user, vector=vector, top_k=top_k, table=table, indexed=through_index
        ),
        limit=top_k,
    )


def vectors_nearest(
    *, user: User, vector: Sequence[float], top_k: int, table: str | None
) -> list[VectorHit]:
    """The user's ``top_k`` vectors most cosine-similar to ``vector``, with their payloads.
    Score: cosine similarity."""
    rows, _ = vectors_ranked(user=user, vector=vector, top_k=top_k, table=table)
    blobs = blobs_bytes(keys=[row[2] for row in rows])
    return [
        VectorHit(key=key, score=score, blob=blob)
        for (key, score, _), blob in zip(rows, blobs, strict=True)
    ]


# --- Backups ---------------------------------------------------------------------------------


def backup_get(*, user: User, backup_id: Any) -> Backup:
    return get_owned_object(Backup.objects.all(), owner=user, pk=backup_id)


def backup_latest(*, user: User) -> Backup | None:
    return Backup.objects.filter(user=user).order_by("-created_at", "-pk").first()


def backup_page(*, user: User, cursor: str | None, limit: int) -> Page[Backup]:
    return paginate(Backup.objects.filter(user=user), cursor=cursor, limit=limit)


def backup_upload_get(*, user: User, upload_id: Any) -> BackupUpload:
    return get_owned_object(BackupUpload.objects.all(), owner=user, pk=upload_id)


def backups_beyond_keep(*, keep: int) -> QuerySet[Backup]:
    """Every backup older than its owner's ``keep`` newest."""
    ranked = Backup.objects.annotate(
        rank=Window(RowNumber(), partition_by=[F("user_id")], order_by=[F("created_at").desc(),
                                                                          F("pk").desc()])
    )  # fmt: skip
    return ranked.filter(rank__gt=keep)


def blob_keys_all(*, batch_size: int = 1000) -> Iterator[tuple[str, str, int, str]]:
    """(kind, blob key, size, checksum) of every stored blob, for verify_backups."""
    for kind, model in (
        ("record", EncryptedRecord),
        ("vector", EncryptedVector),
        ("backup", Backup),
    ):
        rows = model.objects.values_list("blob_key", "size", "checksum").order_by("pk")
        for key, size, checksum in rows.iterator(chunk_size=batch_size):
            yield kind, key, size, checksum


def blob_count() -> int:
    return sum(m.objects.count() for m in (EncryptedRecord, EncryptedVector, Backup))
