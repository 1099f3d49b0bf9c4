"""Hybrid search's query-dependent weight: pure functions, no database."""

import uuid

import pytest

from memories.search.fusion import MIN_SEMANTIC_WEIGHT, fuse, semantic_weight


def keyword_leg(*normalised: float) -> list[tuple[uuid.UUID, float, float]]:
    return [(uuid.uuid4(), 10 * score, score) for score in normalised]


def test_a_memory_alone_holding_the_rare_word_lowers_the_weight_by_its_lead():
    # The best memory leads the second by 0.05 of the query's words.
    leg = keyword_leg(0.22, 0.17, 0.16)

    assert semantic_weight(leg, weight=0.9, lead_slope=4) == pytest.approx(0.9 - 4 * 0.05)


@pytest.mark.parametrize(
    "leg",
    [
        keyword_leg(0.26, 0.26, 0.25),  # a name every memory holds: nobody leads
        keyword_leg(),  # no word matched
    ],
)
def test_a_keyword_leg_that_singles_out_no_memory_keeps_the_weight(leg):
    assert semantic_weight(leg, weight=0.9, lead_slope=8) == 0.9


def test_the_weight_never_drops_below_an_even_split_nor_rises_above_its_setting():
    assert semantic_weight(keyword_leg(1.0, 0.01), weight=0.9, lead_slope=8) == MIN_SEMANTIC_WEIGHT
    assert semantic_weight(keyword_leg(1.0), weight=0.3, lead_slope=8) == 0.3
    assert semantic_weight(keyword_leg(0.5, 0.5), weight=0.9, lead_slope=8) == 0.9


def test_slope_zero_is_the_fixed_weight():
    assert semantic_weight(keyword_leg(1.0, 0.1), weight=0.8, lead_slope=0) == 0.8


def test_the_lead_brings_the_keyword_legs_decisive_memory_into_the_top_ten():
    # The wrong-name question: the semantic leg's top ten are the named person's turns, the
    # evidence (the only memory holding the rare word) is its 48th; the keyword leg's first.
    close = [0.509 - 0.001 * rank for rank in range(10)]
    rest = [0.49 - 0.0015 * rank for rank in range(40)]
    semantic = [(uuid.uuid4(), cosine) for cosine in close + rest]
    evidence = semantic[47][0]
    keyword = [(evidence, 5.1, 0.22), *keyword_leg(*[0.17 - 0.001 * i for i in range(49)])]

    def top_ten(slope: float) -> list[uuid.UUID]:
        weight = semantic_weight(keyword, weight=0.9, lead_slope=slope)
        return [item.pk for item in fuse(semantic, keyword, depth=50, weight=weight)[:10]]

    assert evidence not in top_ten(0)
    assert evidence in top_ten(8)
