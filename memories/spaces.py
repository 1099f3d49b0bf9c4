"""Search that includes team memories: the same per-user search, once for the user and once
for each team space they may read (teams.selectors.readable_spaces), merged by score.

A team's memories belong to its space (a user row of the organisation's that never signs in),
so every per-user path (storage, embedding, indexes, BM25 statistics, the resident copy) works
on them unchanged; this is the one place that puts several principals' results together. Each
space's keyword scores are normalised against that space's own statistics (as the user's are
against theirs), so merged scores are comparable as the search's 0..1 scores always are.
"""

import uuid
from dataclasses import dataclass
from typing import Any

from accounts.models import User
from memories.search import SearchHit, memories_query_prefetch, memories_search
from teams.models import AuditAction
from teams.selectors import readable_spaces
from teams.services import team_memory_audit

# What a caller sends to choose the team spaces: omitted (None) follows the member's own
# defaults; "none", "all", or "team:<organisation id>". The schema's pattern.
TEAM_SCOPE_PATTERN = r"^(none|all|team:[0-9a-fA-F-]{32,36})$"


@dataclass(frozen=True)
class ScopedHit:
    hit: SearchHit
    organisation_id: uuid.UUID | None  # None: the user's own memory


@dataclass(frozen=True)
class ScopedOutcome:
    hits: list[ScopedHit]
    took_ms: float
    mode: str
    vector_path: str


def memories_search_scoped(
    *, user: User, query: str, include_team: str | None = None, top_k: int = 10, **search: Any
) -> ScopedOutcome:
    """``memories_search`` over ``user``'s own memories and the team spaces ``include_team``
    selects (see TEAM_SCOPE_PATTERN), best ``top_k`` of them all by score. A team the user is
    not in is a 404; reading a team's memories is written to its audit log."""
    if search.get("mode", "hybrid") != "keyword":
        # The model's milliseconds are most of a new query's time: they start first, and the
        # reads before the ranking (the team spaces, the user's copy) happen meanwhile.
        memories_query_prefetch(query)
    spaces = readable_spaces(user=user, include=include_team)
    own = memories_search(user=user, query=query, top_k=top_k, **search)
    hits = [ScopedHit(hit, None) for hit in own.hits]
    took_ms = own.took_ms
    for space in spaces:
        found = memories_search(user=space.space, query=query, top_k=top_k, **search)
        hits += [ScopedHit(hit, space.organisation_id) for hit in found.hits]
        took_ms += found.took_ms
    hits.sort(key=lambda scoped: scoped.hit.score, reverse=True)
    hits = hits[:top_k]
    for space in spaces:
        read = [s.hit.memory.pk for s in hits if s.organisation_id == space.organisation_id]
        team_memory_audit(
            user=user,
            organisation_id=space.organisation_id,
            action=AuditAction.MEMORY_READ,
            memory_ids=read,
        )
    return ScopedOutcome(
        hits=hits, took_ms=round(took_ms, 2), mode=own.mode, vector_path=own.vector_path
    )
