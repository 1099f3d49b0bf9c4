"""Reads of encrypted storage, each scoped to its owner."""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Count, F, OuterRef, QuerySet, Subquery, Sum, Window
from django.db.models.functions import Coalesce, RowNumber

from accounts.models import User
from backups.blobstore import blobs_bytes
from backups.models import Backup, BackupUpload, EncryptedRecord, EncryptedVector
from core.errors import NotFound
from core.ownership import get_owned_object
from core.pagination import Page, paginate


def storage_used(*, user: User) -> int:
    """Bytes the user's records, vectors, backups and unfinished uploads take (or reserve)."""
    total = 0
    for model in (EncryptedRecord, EncryptedVector, Backup, BackupUpload):
        total += model.objects.filter(user=user).aggregate(n=Coalesce(Sum("size"), 0))["n"]
    return total


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


def vectors_nearest(
    *, user: User, vector: Sequence[float], top_k: int, table: str | None
) -> list[VectorHit]:
    """The user's ``top_k`` vectors most cosine-similar to ``vector``, with their payloads.

    Exact search over the user's rows only, as memories' search for users below its HNSW
    threshold (README, "Multi-tenant vector search"): the btree on the owner picks the rows, the
    MATERIALIZED CTE keeps any plan from reaching for an index that would filter by user after
    its scan. Score: cosine similarity.
    """
    literal = "[" + ",".join(f"{float(x):.9g}" for x in vector) + "]"
    restrict = 'AND "table" = %s' if table else ""
    query = f"""
        WITH owned AS MATERIALIZED (
            SELECT key, embedding, blob_key FROM {EncryptedVector._meta.db_table}
            WHERE user_id = %s {restrict}
        )
        SELECT key, 1 - (embedding <=> %s::vector) AS score, blob_key
        FROM owned ORDER BY embedding <=> %s::vector, key LIMIT %s
    """
    params = [user.pk, *([table] if table else []), literal, literal, top_k]
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        rows = cursor.fetchall()
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
