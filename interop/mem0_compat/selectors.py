"""Reads of the mem0 API, each scoped to the Engram user who owns the API key.

Filters are memories' own (``memory_filter_q``, ``memories_search``); what is added here is
mem0's OR of alternatives and its page numbers.
"""

import operator
from functools import reduce
from typing import Any

from django.db.models import Count, Max, Min, QuerySet

from accounts.models import User
from interop.mem0_compat.mapping import ENTITY_NAMES, METADATA_PREFIX
from memories.models import Memory
from memories.selectors import MemoryFilters, SearchHit, memory_filter_q
from memories.spaces import memories_search_scoped


def mem0_memories(*, user: User, alternatives: list[MemoryFilters]) -> QuerySet[Memory]:
    """``user``'s memories matching one of ``alternatives``, newest first."""
    if not alternatives:
        return Memory.objects.none()
    matching = reduce(operator.or_, (memory_filter_q(filters) for filters in alternatives))
    return Memory.objects.filter(user=user).filter(matching).order_by("-created_at", "-id")


def mem0_search(
    *,
    user: User,
    query: str,
    alternatives: list[MemoryFilters],
    top_k: int,
    threshold: float | None,
    mode: str,
    include_team: str | None = None,
) -> list[SearchHit]:
    """The best ``top_k`` of ``user``'s memories (and their teams' that ``include_team``
    selects: memories.spaces) for ``query`` over all ``alternatives`` (one search each; a
    memory found by several keeps its best score)."""
    best: dict[Any, SearchHit] = {}
    for filters in alternatives:
        outcome = memories_search_scoped(
            user=user, query=query, include_team=include_team, mode=mode, top_k=top_k,
            threshold=threshold, filters=filters,
        )  # fmt: skip
        for hit in (scoped.hit for scoped in outcome.hits):
            if hit.memory.pk not in best or best[hit.memory.pk].score < hit.score:
                best[hit.memory.pk] = hit
    ranked = sorted(best.values(), key=lambda hit: (-hit.score, str(hit.memory.pk)))
    return ranked[:top_k]


def mem0_entities(*, user: User) -> list[dict[str, Any]]:
    """Every user, agent, run and app id ``user``'s memories name, with counts and dates."""
    entities = []
    for name in ENTITY_NAMES:
        key = f"metadata__{METADATA_PREFIX}{name}"
        rows = (
            Memory.objects.filter(user=user, **{f"{key}__isnull": False})
            .values(key)
            .annotate(total=Count("pk"), first=Min("created_at"), last=Max("updated_at"))
            .order_by(key)
        )
        entities += [
            {
                "id": row[key],
                "name": row[key],
                "type": name.removesuffix("_id"),
                "total_memories": row["total"],
                "created_at": row["first"].isoformat(),
                "updated_at": row["last"].isoformat(),
                "owner": user.email,
                "metadata": None,
            }
            for row in rows
        ]
    return entities
