"""Client-side vectors: upsert with their encrypted payloads, delete. Search is a selector."""

import hashlib
import hmac
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from backups.blobstore import blob_delete, blob_write
from backups.errors import ChecksumMismatch
from backups.models import EncryptedVector
from backups.selectors import (
    CLOUD_STORAGE,
    vector_dimensions,
    vector_index_forget,
    vector_index_name,
    vector_index_names,
)
from backups.services.upload import checksum_valid, lock_user_storage, quota_recheck, quota_room
from core import vector_index
from core.errors import ValidationFailed
from core.tasks import enqueue_after_commit

MAX_DIMENSIONS = 2000


@dataclass(frozen=True)
class VectorDraft:
    key: str
    vector: Sequence[float]
    blob: bytes
    checksum: str
    table: str = ""


def _verified(drafts: Sequence[VectorDraft]) -> None:
    for index, draft in enumerate(drafts):
        expected = checksum_valid(draft.checksum, field=f"vectors.{index}.checksum")
        if not hmac.compare_digest(hashlib.sha256(draft.blob).hexdigest(), expected):
            raise ChecksumMismatch(details={"vectors": {str(index): {"id": draft.key}}})
    dimensions = {len(draft.vector) for draft in drafts}
    if len(dimensions) > 1:
        raise ValidationFailed(
            "All vectors of a collection have one dimension.",
            details={"vectors": [f"Dimensions sent: {sorted(dimensions)}."]},
        )
    keys = [draft.key for draft in drafts]
    if len(set(keys)) != len(keys):
        raise ValidationFailed("Each id may appear once.", details={"vectors": ["Duplicate id."]})


def vectors_upsert(*, user: User, drafts: Sequence[VectorDraft]) -> list[EncryptedVector]:
    """Store or replace the user's vectors by their ids, all or none.

    Every payload is checked against its checksum first (a mismatch stores nothing); all of a
    user's vectors share one dimension (the first upsert sets it, up to MAX_DIMENSIONS).
    """
    if not drafts:
        return []
    _verified(drafts)
    dimension = len(drafts[0].vector)
    keys = [draft.key for draft in drafts]
    existing = {
        v.key: v
        for v in EncryptedVector.objects.filter(user=user, key__in=keys).only("key", "size")
    }
    adding = sum(len(draft.blob) for draft in drafts)
    freeing = sum(v.size for v in existing.values())
    quota_room(user=user, kind=CLOUD_STORAGE, adding=adding, freeing=freeing)
    written: list[str] = []
    try:
        for draft in drafts:
            key = f"{user.pk}/vectors/{uuid.uuid4()}"
            blob_write(key=key, chunks=[draft.blob])
            written.append(key)
        with transaction.atomic():
            lock_user_storage(user)
            current = vector_dimensions(user=user)
            if current is not None and current != dimension:
                raise ValidationFailed(
                    f"Your vector collection has {current} dimensions; these have {dimension}.",
                    details={"vectors": [f"Expected {current} dimensions."]},
                )
            rows = {
                v.key: v
                for v in EncryptedVector.objects.select_for_update().filter(user=user, key__in=keys)
            }
            quota_recheck(
                user=user,
                kind=CLOUD_STORAGE,
                size=adding,
                freeing=sum(v.size for v in rows.values()),
            )
            old_keys = [v.blob_key for v in rows.values()]
            saved = [
                _save(user=user, row=rows.get(draft.key), draft=draft, blob_key=key)
                for draft, key in zip(drafts, written, strict=True)
            ]
            transaction.on_commit(lambda: _delete_blobs(old_keys))
            _vector_index_ensure(user=user, dimensions=dimension)
            return saved
    except BaseException:
        _delete_blobs(written)
        raise


def _save(
    *, user: User, row: EncryptedVector | None, draft: VectorDraft, blob_key: str
) -> EncryptedVector:
    row = row or EncryptedVector(user=user, key=draft.key)
    row.table = draft.table
    row.dimensions = len(draft.vector)
    row.embedding = list(draft.vector)
    row.size = len(draft.blob)
    row.checksum = draft.checksum.lower()
    row.blob_key = blob_key
    row.updated_at = timezone.now()
    row.save()
    return row


def _delete_blobs(keys: Sequence[str]) -> None:
    for key in keys:
        blob_delete(key=key)


def vectors_delete(*, user: User, keys: Sequence[str]) -> int:
    """Delete the user's vectors with these ids (others' and unknown ids are ignored)."""
    with transaction.atomic():
        rows = list(EncryptedVector.objects.select_for_update().filter(user=user, key__in=keys))
        EncryptedVector.objects.filter(pk__in=[row.pk for row in rows]).delete()
        old_keys = [row.blob_key for row in rows]
        transaction.on_commit(lambda: _delete_blobs(old_keys))
        if rows and vector_dimensions(user=user) is None:
            # An emptied collection may come back in another dimension: its index goes.
            enqueue_after_commit("storage.drop_vector_indexes", str(user.pk))
    return len(rows)


# --- Per-user HNSW indexes (core.vector_index) ----------------------------------------------------


def _vector_index_ensure(*, user: User, dimensions: int) -> None:
    """Past STORAGE_HNSW_USER_THRESHOLD vectors, have the user's own index built once this
    transaction commits (a task: the build takes seconds per 100k vectors)."""
    if vector_index.index_exists(vector_index_name(user_id=user.pk, dimensions=dimensions)):
        return
    if EncryptedVector.objects.filter(user=user).count() < settings.STORAGE_HNSW_USER_THRESHOLD:
        return
    enqueue_after_commit("storage.build_vector_index", str(user.pk), dimensions)


def vector_index_build(*, user_id: Any, dimensions: int) -> bool:
    """Build the user's partial HNSW index over their vectors of ``dimensions`` (CONCURRENTLY
    outside a transaction); True once it is ready. Safe to run twice: an index there is kept."""
    name = vector_index_name(user_id=user_id, dimensions=dimensions)
    index = vector_index.hnsw_cosine_index(
        name=name,
        table=EncryptedVector._meta.db_table,
        column="embedding",
        dimensions=dimensions,
        where={"user_id": str(user_id), "dimensions": int(dimensions)},
        ef_construction=settings.STORAGE_HNSW_EF_CONSTRUCTION,
    )
    built = vector_index.indexes_build([index]) is None
    vector_index_forget(user_id=user_id, dimensions=dimensions)
    return built


def vector_indexes_drop_stale(*, user_id: Any) -> int:
    """Drop the user's indexes of any dimension but their collection's (every one once it is
    empty, or the user is gone); returns how many."""
    current = EncryptedVector.objects.filter(user_id=user_id).values_list("dimensions").first()
    keep = vector_index_name(user_id=user_id, dimensions=current[0]) if current else None
    stale = [name for name in vector_index_names(user_id=user_id) if name != keep]
    for name in stale:
        vector_index.index_drop(name)
    return len(stale)
