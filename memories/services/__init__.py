"""Every write to memories, by concern: single records, bulk and import, embedding, linking
near duplicates, per-user indexes, the summary, new extraction jobs, and the one module that
enqueues background work (scheduling).

The public names are re-exported here: callers write ``from memories.services import ...``.
"""

from memories.services.bulk import (
    ImportResult,
    memories_bulk_create,
    memories_import,
    memory_create_in_parts,
)
from memories.services.drafts import (
    BULK_MAX_ITEMS,
    MAX_TAGS,
    METADATA_MAX_DEPTH,
    TAG_MAX_CHARS,
    UPDATABLE_FIELDS,
    BulkItemResult,
    MemoryDraft,
    compose_content,
    content_hash,
    draft_problems,
)
from memories.services.duplicates import memories_link_near_duplicates
from memories.services.embedding import (
    chunks_drop_other_models,
    memories_embed,
    memories_mark_failed,
    memories_reembed_batch,
    memories_requeue,
)
from memories.services.indexes import (
    text_index_name,
    user_indexes_drop_on_commit,
    vector_index_build,
    vector_index_drop,
    vector_index_name,
    vector_indexes_drop_for_user,
    vector_indexes_ensure,
)
from memories.services.records import (
    memories_delete_all,
    memories_prune,
    memory_capture,
    memory_create,
    memory_delete,
    memory_response_save,
    memory_revert,
    memory_update,
    thread_detach,
)
from memories.services.scheduling import extraction_schedule, summary_schedule
from memories.services.summary import summary_current, summary_refresh, summary_write
from memories.services.term_statistics import term_statistics_refresh, term_statistics_sweep

__all__ = [
    "BULK_MAX_ITEMS",
    "MAX_TAGS",
    "METADATA_MAX_DEPTH",
    "TAG_MAX_CHARS",
    "UPDATABLE_FIELDS",
    "BulkItemResult",
    "ImportResult",
    "MemoryDraft",
    "chunks_drop_other_models",
    "compose_content",
    "content_hash",
    "draft_problems",
    "extraction_schedule",
    "memories_bulk_create",
    "memories_delete_all",
    "memories_embed",
    "memories_import",
    "memories_link_near_duplicates",
    "memories_mark_failed",
    "memories_prune",
    "memories_reembed_batch",
    "memories_requeue",
    "memory_capture",
    "memory_create",
    "memory_create_in_parts",
    "memory_delete",
    "memory_response_save",
    "memory_revert",
    "memory_update",
    "summary_current",
    "summary_refresh",
    "summary_schedule",
    "summary_write",
    "term_statistics_refresh",
    "term_statistics_sweep",
    "text_index_name",
    "thread_detach",
    "user_indexes_drop_on_commit",
    "vector_index_build",
    "vector_index_drop",
    "vector_index_name",
    "vector_indexes_drop_for_user",
    "vector_indexes_ensure",
]
