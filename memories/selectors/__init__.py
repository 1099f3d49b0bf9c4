"""Every plain read of memories (records.py: single memories, lists, stats, the summary,
extraction jobs). Search is an engine of its own (memories/search/); its public names are
re-exported here, where other apps have always imported them."""

from memories.filters import MemoryFilters
from memories.search import (
    SEARCH_QUERY_MAX_CHARS,
    SearchHit,
    SearchOutcome,
    memories_query_prefetch,
    memories_search,
    memories_similar,
    memory_near_duplicate,
    vector_index_forget,
)
from memories.selectors.records import (
    extraction_job_get,
    extraction_jobs_stale,
    memories_export,
    memories_overview,
    memories_pending_stale,
    memory_filter_q,
    memory_get,
    memory_history_page,
    memory_known,
    memory_merged_survivor,
    memory_page,
    memory_stats,
    memory_summary_facts,
    memory_summary_get,
    memory_usage,
)

__all__ = [
    "SEARCH_QUERY_MAX_CHARS",
    "MemoryFilters",
    "SearchHit",
    "SearchOutcome",
    "extraction_job_get",
    "extraction_jobs_stale",
    "memories_export",
    "memories_overview",
    "memories_pending_stale",
    "memories_query_prefetch",
    "memories_search",
    "memories_similar",
    "memory_filter_q",
    "memory_get",
    "memory_history_page",
    "memory_known",
    "memory_merged_survivor",
    "memory_near_duplicate",
    "memory_page",
    "memory_stats",
    "memory_summary_facts",
    "memory_summary_get",
    "memory_usage",
    "vector_index_forget",
]
