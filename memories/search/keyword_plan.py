"""Which memories a heavy user's keyword leg reads: the query's words split into those it
searches by and those it only scores with. Pure functions over the user's term statistics.

BM25 ORs the query's words, so every memory holding any of them is a candidate. For a user with
100k memories a common word is held by thousands, and reading all of them cost the heavy user's
hybrid search 300-900 ms (bench/README.md). As in MaxScore (Turtle & Flood, "Query evaluation:
strategies and optimizations", 1995), a common word adds little to a score (its idf is low), so:

- the rarest words, up to half the budget of memories, are searched by: all their memories are
  read;
- the common rest make a memory a candidate only when it holds at least ``m`` of them, ``m``
  the smallest count whose expected number of memories (words taken as independent) fits what
  is left of the budget.

Every candidate is then scored on all the query's words. A memory holding no rare word and
fewer than ``m`` common ones is never read: that is the approximation, measured against exact
BM25 in bench/README.md. When all the words' memories fit the budget, the plan is exact.
"""

from dataclasses import dataclass
from itertools import combinations

# Words held by fewer memories than this are not kept in the statistics (most words are rare):
# a word missing from them is taken to be held by this many, at most.
TERM_STATISTICS_MIN_DOCUMENTS = 10
# The common words that take part in the "at least m of them" test, rarest first: C(8, 4) = 70
# conjunctions at most. Commoner words still score.
MAX_COMMON_TERMS = 8


@dataclass(frozen=True)
class KeywordPlan:
    # The candidates' test: a memory matching any of these tsqueries (lexemes quoted, already
    # normalised). Kept apart, each is its own scan of the GIN index: one tsquery ORing 15
    # conjunctions cost the index three times as much (bench/README.md).
    clauses: tuple[str, ...]
    # Lexemes whose every memory is a candidate: their document counts are taken from the
    # candidates themselves, the others' from the statistics.
    searched: frozenset[str]
    # Common words a candidate must hold at least this many of (0: no common words test).
    at_least: int
    # Every memory holding any query word is a candidate: the result is exact BM25.
    exact: bool


def tsquery_lexeme(lexeme: str) -> str:
    """``lexeme`` quoted for tsquery input, where a quote is doubled and a backslash escapes."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def expected_holding_at_least(probabilities: list[float], count: int) -> list[float]:
    """For m = 0..len(probabilities): the expected number of ``count`` memories holding at least
    m of the words, each held with its probability, independently (Poisson binomial)."""
    exactly = [1.0] + [0.0] * len(probabilities)
    for p in probabilities:
        for held in range(len(probabilities), 0, -1):
            exactly[held] = exactly[held] * (1 - p) + exactly[held - 1] * p
        exactly[0] *= 1 - p
    at_least, running = [], 0.0
    for held in range(len(probabilities), -1, -1):
        running += exactly[held]
        at_least.append(running * count)
    return at_least[::-1]


def keyword_plan(
    documents: dict[str, int | None], *, memories: int, budget: int, max_at_least: int | None = None
) -> KeywordPlan:
    """The plan for a query whose lexemes hold ``documents`` memories each (None: not in the
    statistics, so rare) among the user's ``memories``, reading about ``budget`` memories at
    most. ``max_at_least`` caps ``m`` (a second try when the first found too few)."""
    held = {
        lexeme: TERM_STATISTICS_MIN_DOCUMENTS if count is None else count
        for lexeme, count in documents.items()
    }
    by_rarity = sorted(held, key=lambda lexeme: (held[lexeme], lexeme))
    if sum(held.values()) <= budget:
        return _plan(by_rarity, [], 0, words=len(held))
    searched, running = [], 0
    for lexeme in by_rarity:
        if running + held[lexeme] > budget // 2:
            break
        searched.append(lexeme)
        running += held[lexeme]
    common = by_rarity[len(searched) :][:MAX_COMMON_TERMS]
    room = budget - running
    expected = expected_holding_at_least(
        [min(held[lexeme] / max(memories, 1), 1.0) for lexeme in common], memories
    )
    at_least = next((m for m in range(1, len(common) + 1) if expected[m] <= room), len(common))
    if max_at_least is not None:
        at_least = max(1, min(at_least, max_at_least))
    return _plan(searched, common, at_least, words=len(held))


def _plan(searched: list[str], common: list[str], at_least: int, *, words: int) -> KeywordPlan:
    if at_least == 1:  # every common word searched by: the plain OR
        searched, common, at_least = searched + common, [], 0
    clauses = [" | ".join(tsquery_lexeme(lexeme) for lexeme in searched)] if searched else []
    if common:
        clauses += [
            " & ".join(tsquery_lexeme(lexeme) for lexeme in group)
            for group in combinations(common, at_least)
        ]
    return KeywordPlan(
        clauses=tuple(clauses),
        searched=frozenset(searched),
        at_least=at_least,
        exact=len(searched) == words,
    )
