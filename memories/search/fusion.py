"""Hybrid search's fusion: a convex combination of the legs' scores, and the optional boosts.

A convex combination keeps what each score means (Bruch et al., "An Analysis of Fusion Functions
for Hybrid Retrieval": a tuned convex combination beats reciprocal rank fusion and needs few
labelled queries). The weight and the candidate depth were chosen on ``make bench-retrieval``'s
tuning split (bench/README.md). The weight can be the query's own, lowered when the keyword
leg's best memory leads the next one (``semantic_weight``); off by default, as measured there.
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


# The query-dependent weight never drops below an even split: however far one memory's words
# lead, what the question means keeps half of the say.
MIN_SEMANTIC_WEIGHT = 0.5


def semantic_weight(keyword: KeywordRanked, *, weight: float, lead_slope: float) -> float:
    """Cosine's weight for this query: ``weight`` less ``lead_slope`` times the lead of the
    keyword leg's best memory over its second (normalised BM25, 0..1), not below
    ``MIN_SEMANTIC_WEIGHT`` (nor above ``weight``). A memory that alone holds the question's
    rare word (a name, a title) leads the rest, and the question is then the keyword leg's to
    decide: the semantic leg would fill the top with turns of the person the question names
    (bench/HISTORY.md, "Query-dependent fusion weight"). Words many memories share (a name)
    lead nothing, so the weight stays ``weight``."""
    if not keyword:
        return weight
    second = keyword[1][2] if len(keyword) > 1 else 0.0
    lead = max(keyword[0][2] - second, 0.0)
    return max(weight - lead_slope * lead, min(weight, MIN_SEMANTIC_WEIGHT))


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
