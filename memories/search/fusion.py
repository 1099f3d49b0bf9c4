"""Hybrid search's fusion: a convex combination of the legs' scores, and the optional boosts.

A convex combination keeps what each score means (Bruch et al., "An Analysis of Fusion Functions
for Hybrid Retrieval": a tuned convex combination beats reciprocal rank fusion and needs few
labelled queries). The weight and the candidate depth were chosen on ``make bench-retrieval``'s
tuning split (bench/README.md). Then the keyword leg's best memory keeps a place in the
answer (``keyword_best_kept``).
"""

import math
import uuid
from dataclasses import dataclass

from django.utils import timezone

from memories.models import Memory
from memories.search.vectors import Ranked

# (memory id, BM25, BM25 normalised to 0..1)
KeywordRanked = list[tuple[uuid.UUID, float, float]]


@dataclass(frozen=True)
class Fused:
    pk: uuid.UUID
    score: float
    semantic: float | None
    keyword: float | None


def fuse(semantic: Ranked, keyword: KeywordRanked, *, depth: int, weight: float) -> list[Fused]:
    """Every candidate of either list, scored ``weight·cosine + (1 - weight)·normalised BM25``,
    best first. A memory missing from a full list (``depth`` long) gets that list's lowest score,
    the most it can have; missing from a shorter list, it has none of that leg (0)."""
    cosine = dict(semantic)
    bm25 = {pk: (raw, normalised) for pk, raw, normalised in keyword}
    missing_cosine = semantic[-1][1] if len(semantic) >= depth else 0.0
    missing_keyword = keyword[-1][2] if len(keyword) >= depth else 0.0
    fused = []
    for pk in cosine.keys() | bm25.keys():
        similarity = cosine.get(pk)
        raw, normalised = bm25.get(pk, (None, missing_keyword))
        value = weight * max(similarity if similarity is not None else missing_cosine, 0.0)
        fused.append(Fused(pk, value + (1 - weight) * normalised, similarity, raw))
    # UUIDs order as their text does (fixed-width hex), without making the text.
    fused.sort(key=lambda item: (-item.score, item.pk))
    return fused


def boosted(
    fused: list[Fused], *, user_id: uuid.UUID, importance_boost: float, recency_boost: float
) -> list[Fused]:
    """Scale fused scores up by importance and recency (a 30-day half-life), when asked; the
    facts are read from ``user_id``'s memories (every search statement names its user)."""
    if not (importance_boost or recency_boost):
        return fused
    now = timezone.now()
    facts = dict(
        (pk, (importance, created_at))
        for pk, importance, created_at in Memory.objects.filter(
            user_id=user_id, pk__in=[item.pk for item in fused]
        ).values_list("pk", "importance", "created_at")
    )
    boosted = []
    for item in fused:
        if item.pk not in facts:
            continue
        importance, created_at = facts[item.pk]
        age_days = max((now - created_at).total_seconds(), 0) / 86400
        recency = math.exp(-math.log(2) * age_days / 30)
        factor = 1 + importance_boost * importance + recency_boost * recency
        boosted.append(Fused(item.pk, item.score * factor, item.semantic, item.keyword))
    boosted.sort(key=lambda item: (-item.score, item.pk))
    return boosted


def keyword_best_kept(ranking: list[Fused], keyword: KeywordRanked, *, top_k: int) -> list[Fused]:
    """``ranking`` with the keyword leg's best memory among its first ``top_k``: when the fused
    order left it out, it takes the last of those places, with its own (lower) score. A question
    decided by one rare word (a name, a title) names that memory alone, yet the semantic leg can
    fill every place with turns of the person it names; hybrid search then missed what its own
    keyword search found first (bench/HISTORY.md, "The keyword leg's best keeps a place"). A
    memory filtered out of ``ranking`` (``min_score``) stays out."""
    if not keyword or top_k <= 0:
        return ranking
    best = keyword[0][0]
    head = ranking[:top_k]
    if any(item.pk == best for item in head):
        return ranking
    kept = next((item for item in ranking if item.pk == best), None)
    if kept is None:
        return ranking
    rest = [item for item in ranking[top_k - 1 :] if item.pk != best]
    return [*head[: top_k - 1], kept, *rest]
