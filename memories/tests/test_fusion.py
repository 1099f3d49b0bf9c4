"""Hybrid search's fusion: the keyword leg's best memory keeps a place (pure functions, no
database)."""

import uuid

from memories.search.fusion import Fused, fuse, keyword_best_kept


def keyword_leg(*normalised: float) -> list[tuple[uuid.UUID, float, float]]:
    return [(uuid.uuid4(), 10 * score, score) for score in normalised]


def fused(count: int) -> list[Fused]:
    return [Fused(uuid.uuid4(), 1.0 - 0.01 * rank, 0.5, None) for rank in range(count)]


def test_the_wrong_name_question_finds_what_the_keyword_leg_found_first():
    # The semantic leg's top ten are turns of the person the question names; the evidence (the
    # only memory holding the rare word) is its 48th, and the keyword leg's first.
    close = [0.509 - 0.001 * rank for rank in range(10)]
    rest = [0.49 - 0.0015 * rank for rank in range(40)]
    semantic = [(uuid.uuid4(), cosine) for cosine in close + rest]
    evidence = semantic[47][0]
    keyword = [(evidence, 5.1, 0.22), *keyword_leg(*[0.17 - 0.001 * i for i in range(49)])]
    ranking = fuse(semantic, keyword, depth=50, weight=0.9)
    assert evidence not in [item.pk for item in ranking[:10]]

    kept = keyword_best_kept(ranking, keyword, top_k=10)

    assert [item.pk for item in kept[:9]] == [item.pk for item in ranking[:9]]
    assert kept[9].pk == evidence
    # Nothing lost, nothing doubled: the memory it displaced comes next.
    assert kept[10] == ranking[9]
    assert sorted(item.pk for item in kept) == sorted(item.pk for item in ranking)


def test_a_ranking_already_holding_the_keyword_legs_best_is_unchanged():
    ranking = fused(12)
    keyword = [(ranking[4].pk, 3.0, 0.3)]

    assert keyword_best_kept(ranking, keyword, top_k=5) == ranking


def test_the_kept_memory_keeps_its_own_score():
    ranking = fused(20)
    keyword = [(ranking[15].pk, 3.0, 0.3)]

    kept = keyword_best_kept(ranking, keyword, top_k=3)

    assert kept[2] == ranking[15]
    assert kept[:2] == ranking[:2]


def test_a_memory_the_floor_removed_is_not_brought_back():
    ranking = fused(5)
    keyword = keyword_leg(0.9)  # its best is not in the (floored) ranking

    assert keyword_best_kept(ranking, keyword, top_k=3) == ranking


def test_no_keyword_match_leaves_the_ranking_alone():
    ranking = fused(5)

    assert keyword_best_kept(ranking, [], top_k=3) == ranking
