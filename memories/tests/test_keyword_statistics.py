"""A heavy user's keyword leg: word statistics kept in tables, and a plan that reads the
memories of the query's rarer words and of those holding several of its common ones, scored
exactly as BM25 over all the user's memories would score them."""

import pytest
from django.conf import settings

from memories import services
from memories.models import IndexStatus, KeywordStatistics, TermStatistic, UserVectorIndex
from memories.search.keyword import bm25_statement
from memories.search.keyword_plan import (
    TERM_STATISTICS_MIN_DOCUMENTS,
    expected_holding_at_least,
    keyword_plan,
    tsquery_lexeme,
)
from memories.search.rankers import SqlRanker
from memories.selectors import MemoryFilters
from memories.tests.factories import MemoryFactory

QUERY = "alpha beta gamma zebra"


def test_a_plan_within_the_budget_reads_every_word():
    plan = keyword_plan({"alpha": 40, "beta": None}, memories=100, budget=100)
    assert plan.exact and plan.at_least == 0
    assert plan.clauses == ("'beta' | 'alpha'",)  # rarest first


def test_rare_words_are_searched_and_common_ones_must_come_together():
    # zebra: rare (not in the statistics); gamma, beta, alpha: held by 1/3, 1/2 and all of 60.
    documents = {"alpha": 60, "beta": 30, "gamma": 20, "zebra": None}
    plan = keyword_plan(documents, memories=60, budget=40)
    assert plan.searched == {"zebra"}
    # At least 1 common word: 60 memories, at least 2: 40, all 3: 10; 30 are left in the budget.
    assert plan.at_least == 3 and not plan.exact
    assert plan.clauses == ("'zebra'", "'gamma' & 'beta' & 'alpha'")
    widened = keyword_plan(documents, memories=60, budget=40, max_at_least=2)
    assert widened.at_least == 2
    assert len(widened.clauses) == 1 + 3  # zebra, and three pairs
    assert keyword_plan(documents, memories=60, budget=40, max_at_least=1).exact


def test_expected_memories_holding_at_least_m_words():
    assert expected_holding_at_least([0.5, 0.5], 100) == pytest.approx([100, 75, 25])
    assert expected_holding_at_least([], 10) == [10]


def test_a_lexeme_is_quoted_for_tsquery_input():
    assert tsquery_lexeme("it's") == "'it''s'"
    assert tsquery_lexeme("a\\b") == "'a\\\\b'"


@pytest.fixture
def corpus(user):
    """60 memories of one length (each with a word of its own): alpha in all, beta in every
    second, gamma in every third, zebra in one."""
    for i in range(60):
        words = ["alpha", "beta" if i % 2 == 0 else "delta", "gamma" if i % 3 == 0 else "omega"]
        words += ["zebra" if i == 7 else "kappa", f"note{i}"]
        MemoryFactory(user=user, content=" ".join(words))
    return user


def test_the_refresh_counts_the_memories_holding_each_word_but_rare_ones(corpus):
    statistics = services.term_statistics_refresh(user_id=corpus.pk)
    assert statistics.memories == 60
    assert statistics.average_length == pytest.approx(5.0)
    counts = dict(statistics.terms.values_list("lexeme", "documents"))
    assert counts["alpha"] == 60 and counts["beta"] == 30 and counts["gamma"] == 20
    assert "zebra" not in counts  # held by one memory, fewer than the minimum kept
    assert all(count >= TERM_STATISTICS_MIN_DOCUMENTS for count in counts.values())


def keyword_ranking(user, *, heavy: bool, depth: int):
    ranker = SqlRanker(user=user, query=QUERY, model="", filters=MemoryFilters(), heavy=heavy)
    legs = ranker.rank(vector=None, threshold=None, keyword=True, depth=depth)
    return [(pk, round(score, 6)) for pk, score, _ in legs.keyword]


def test_the_plan_reads_fewer_memories_and_ranks_them_as_exact_bm25(corpus, settings):
    services.term_statistics_refresh(user_id=corpus.pk)
    settings.MEMORY_KEYWORD_CANDIDATE_BUDGET = 40
    statement = bm25_statement(
        user=corpus, query=QUERY, limit=10, filter_sql="", filter_params=[], heavy=True
    )
    assert statement.plan is not None and statement.plan.at_least == 3
    # 11 candidates (zebra, and the 10 holding all three common words) for a top 10: the same
    # memories and scores as BM25 over all 60.
    assert keyword_ranking(corpus, heavy=True, depth=10) == keyword_ranking(
        corpus, heavy=False, depth=10
    )
    # 20 asked for: 11 found, so the plan widens to two common words and finds them all.
    assert keyword_ranking(corpus, heavy=True, depth=20) == keyword_ranking(
        corpus, heavy=False, depth=20
    )


def test_without_statistics_a_heavy_user_is_searched_exactly(corpus):
    assert not KeywordStatistics.objects.filter(user=corpus).exists()
    assert keyword_ranking(corpus, heavy=True, depth=30) == keyword_ranking(
        corpus, heavy=False, depth=30
    )


def test_only_stop_words_find_nothing(corpus):
    services.term_statistics_refresh(user_id=corpus.pk)
    statement = bm25_statement(
        user=corpus, query="the and of", limit=10, filter_sql="", filter_params=[], heavy=True
    )
    assert statement.plan is None
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement.sql, statement.params)
        assert cursor.fetchall() == []


def heavy_index(user) -> UserVectorIndex:
    return UserVectorIndex.objects.create(
        user=user,
        model="test",
        dimensions=settings.EMBEDDING_DIMENSIONS,
        name=services.vector_index_name(user.pk, "test"),
        status=IndexStatus.READY,
    )


def test_the_sweep_refreshes_heavy_users_that_grew_and_drop_forgets_them(corpus):
    index = heavy_index(corpus)
    assert services.term_statistics_sweep() == 1  # none yet
    assert services.term_statistics_sweep() == 0
    for i in range(6):  # a tenth more: not yet
        MemoryFactory(user=corpus, content=f"alpha beta extra{i}")
    assert services.term_statistics_sweep() == 0
    MemoryFactory(user=corpus, content="alpha beta extra")
    assert services.term_statistics_sweep() == 1
    assert TermStatistic.objects.get(statistics_id=corpus.pk, lexeme="alpha").documents == 67

    services.vector_index_drop(index=index)
    assert not KeywordStatistics.objects.filter(user=corpus).exists()
    assert not TermStatistic.objects.filter(statistics_id=corpus.pk).exists()


@pytest.mark.parametrize(
    "query",
    [
        "it's alpha's",
        "back\\slash alpha",
        "a:b & c | !d (e) <-> 'f'",
        "C:\\path\\to alpha",
        "ünïcödé ☃ alpha",
    ],
)
def test_any_words_a_user_types_reach_the_index_quoted(corpus, settings, query):
    # Lexemes go into tsquery text the plan builds: quotes, backslashes and operators in them
    # must stay words.
    services.term_statistics_refresh(user_id=corpus.pk)
    settings.MEMORY_KEYWORD_CANDIDATE_BUDGET = 1
    ranker = SqlRanker(user=corpus, query=query, model="", filters=MemoryFilters(), heavy=True)
    ranked = ranker.rank(vector=None, threshold=None, keyword=True, depth=10).keyword
    assert len(ranked) == (10 if "alpha" in query else 0)
