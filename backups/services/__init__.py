"""Every write of encrypted storage: records, vectors, backups (one module each)."""

from backups.services.backups import (
    backup_delete,
    backup_part_put,
    backup_put,
    backup_upload_abort,
    backup_upload_complete,
    backup_upload_start,
    backups_prune,
    storage_orphans_sweep,
    storage_user_purge,
)
from backups.services.records import (
    etag_matches,
    record_create,
    record_delete,
    record_etag,
    record_replace,
)
from backups.services.upload import upload_slot_hold
from backups.services.vectors import (
    VectorDraft,
    vector_index_build,
    vector_indexes_drop_stale,
    vectors_delete,
    vectors_upsert,
)

__all__ = [
    "VectorDraft",
    "backup_delete",
    "backup_part_put",
    "backup_put",
    "backup_upload_abort",
    "backup_upload_complete",
    "backup_upload_start",
    "backups_prune",
    "etag_matches",
    "record_create",
    "record_delete",
    "record_etag",
    "record_replace",
    "storage_orphans_sweep",
    "storage_user_purge",
    "upload_slot_hold",
    "vector_index_build",
    "vector_indexes_drop_stale",
    "vectors_delete",
    "vectors_upsert",
]
