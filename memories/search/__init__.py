"""Search over one user's memories: the engine (semantic, keyword and hybrid), apart from the
plain reads in selectors/.

    embed the query (query_vectors.py) → choose who ranks each leg (rankers.py: SQL, or the
    user's copy in this process, resident.py) → rank both legs (vectors.py, keyword.py) →
    fuse (fusion.py) → read the hits (hits.py)

The entry point is ``memories_search``; ``memories.selectors`` re-exports the public names, as
other apps have always imported them.
"""

from memories.search.pipeline import (
    SEARCH_QUERY_MAX_CHARS,
    SearchHit,
    SearchOutcome,
    memories_query_prefetch,
    memories_search,
    memories_similar,
    memory_near_duplicate,
)
from memories.search.vectors import vector_index_forget

__all__ = [
    "SEARCH_QUERY_MAX_CHARS",
    "SearchHit",
    "SearchOutcome",
    "memories_query_prefetch",
    "memories_search",
    "memories_similar",
    "memory_near_duplicate",
    "vector_index_forget",
]
