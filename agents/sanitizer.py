"""Keeps server prompts on the server: no response, action or plan leaves carrying a system
prompt, a template's text, a tool's schema or the router's instructions.

Every server text is cut into shingles (runs of ``SHINGLE`` words) and their hashes kept.
Outgoing text is cut into words the same way and every run that matches is cut out, logged and
counted. Short fragments (fewer than ``SHINGLE`` words) pass: a few words of an instruction
reveal nothing, and shorter shingles would cut ordinary sentences.

Words are compared in a normal form, so that a model told to disguise the prompt does not get it
past: compatibility forms folded (NFKD: full-width and mathematical letters, ligatures), case
folded, invisible characters and combining marks inside a word dropped (a zero-width space in
each word), anything but letters and digits a separator (``_`` after each word), and a word
repeated at once counted once (every word doubled). Outgoing text is also read at a stride of
two and three words, so one or two junk words after each word still match.

A stream is cleaned as it goes (``StreamSanitizer``): a word is sent once no later word can
make it part of a match, so a leaked prompt is never sent even in pieces.
"""

import functools
import json
import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache

from agents import prompts
from agents.registry import registry

logger = logging.getLogger(__name__)
SHINGLE = 6
STRIDES = (1, 2, 3)
# A word that arrives later can join a match with at most this many words before it.
REACH = (SHINGLE - 1) * max(STRIDES)
JUNK = 2  # words no server text has, skipped between two that it has
REPEATS = 3
SETTLE_MARGIN = 8  # words a stream keeps before the point no later word can reach
COUNTER_KEY = "agents:sanitizer:cuts"
_WORD = re.compile(r"[^\W_]+")
# Format characters (zero-width spaces and joiners, soft hyphens, direction marks) and marks:
# invisible or riding on a letter, so dropped inside a word rather than splitting it.
_IGNORED = frozenset({"Cf", "Mn", "Mc", "Me"})


@dataclass(frozen=True)
class _Word:
    key: str  # the normal form compared
    start: int  # where it is in the text
    end: int
    count: int = 1  # the words of the text it stands for (a repeat, a break)
    last: int = -1  # where the last of them starts


def _normal(text: str) -> tuple[str, list[int] | None]:
    """``text`` in the normal form, and the index in ``text`` of each of its characters (None:
    the same index, as for ASCII text, which only needs lower-casing)."""
    if text.isascii():
        return text.lower(), None
    parts: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        if char.isascii():
            folded = char.lower()
        else:
            folded = "".join(
                c.casefold()
                for c in unicodedata.normalize("NFKD", char)
                if unicodedata.category(c) not in _IGNORED
            )
        parts.append(folded)
        origin.extend([index] * len(folded))
    return "".join(parts), origin


BREAK = "\x00"  # no word's normal form: no shingle holds it


def _words(text: str) -> list[_Word]:
    """The words of ``text`` in the normal form."""
    normal, origin = _normal(text)
    if origin is None:
        return [_Word(m.group(), m.start(), m.end()) for m in _WORD.finditer(normal)]
    return [
        _Word(m.group(), origin[m.start()], origin[m.end() - 1] + 1) for m in _WORD.finditer(normal)
    ]


def _hash(words: Iterable[str]) -> int:
    return hash(" ".join(words))


def server_texts() -> list[str]:
    """Everything the sanitizer guards: the templates, and every agent's tool definitions."""
    texts = prompts.all_texts()
    for spec in registry.all():
        texts += spec.schema_texts()
    return texts


@dataclass(frozen=True)
class _Known:
    shingles: frozenset[int]  # the hashes of every server text's shingles
    vocabulary: frozenset[str]  # every word of them


@functools.cache
def _known() -> _Known:
    shingles: set[int] = set()
    texts = [_words(text) for text in server_texts()]
    vocabulary = frozenset(word.key for words in texts for word in words)
    for words in texts:
        keys = [word.key for word in _candidates(words, vocabulary)]
        shingles.update(_hash(keys[i : i + SHINGLE]) for i in range(len(keys) - SHINGLE + 1))
    return _Known(frozenset(shingles), vocabulary)


@dataclass(frozen=True)
class Cleaned:
    text: str
    cuts: int


def _candidates(words: list[_Word], vocabulary: frozenset[str]) -> list[_Word]:
    """The words that may be part of a server text: a word no server text has cannot be, and
    up to ``JUNK`` of them in a row are skipped (junk put between the prompt's words); more
    are a ``BREAK`` no match crosses. A word repeated at once (junk aside) is taken once, up to
    ``REPEATS`` times (more would let a few words stand for a stream of any length)."""
    kept: list[_Word] = []
    unknown: list[_Word] = []  # since the last known word
    for word in [*words, None]:
        if word is not None and word.key not in vocabulary:
            unknown.append(word)
            continue
        if len(unknown) > JUNK:
            first, last = unknown[0], unknown[-1]
            kept.append(_Word(BREAK, first.start, last.end, len(unknown), last.start))
        unknown = []
        if word is None:
            break
        if kept and kept[-1].key == word.key and kept[-1].count < REPEATS:
            repeated = kept[-1]
            kept[-1] = _Word(word.key, repeated.start, word.end, repeated.count + 1, word.start)
        else:
            kept.append(_Word(word.key, word.start, word.end, 1, word.start))
    return kept


def _cut_ranges(text: str) -> tuple[list[_Word], list[tuple[int, int]]]:
    """The candidate words of ``text`` and the (first, last) runs of them that match a server
    text; no run crosses a break."""
    known = _known()
    words = _candidates(_words(text), known.vocabulary)
    keys = [word.key for word in words]
    next_break = [len(keys)] * (len(keys) + 1)
    for i in range(len(keys) - 1, -1, -1):
        next_break[i] = i if keys[i] == BREAK else next_break[i + 1]
    spans = []
    for stride in STRIDES:
        reach = (SHINGLE - 1) * stride
        for i in range(len(keys) - reach):
            if next_break[i] > i + reach and (
                _hash(keys[i : i + reach + 1 : stride]) in known.shingles
            ):
                spans.append((i, i + reach))
    runs: list[tuple[int, int]] = []
    for first, last in sorted(spans):
        if runs and first <= runs[-1][1]:
            runs[-1] = (runs[-1][0], max(runs[-1][1], last))
        else:
            runs.append((first, last))
    return words, runs


def _apply(text: str, words: list[_Word], runs: list[tuple[int, int]], upto: int) -> str:
    kept, position = [], 0
    for first, last in runs:
        start, end = words[first].start, words[last].end
        if start >= upto:
            break
        kept.append(text[position:start])
        position = end
    kept.append(text[position:upto] if position < upto else "")
    return "".join(kept)


def _count(cuts: int, where: str) -> None:
    if not cuts:
        return
    logger.warning("Sanitizer cut %d server-prompt fragment(s) from %s", cuts, where)
    cache.add(COUNTER_KEY, 0, timeout=None)
    try:
        cache.incr(COUNTER_KEY, cuts)
    except ValueError:  # evicted between add and incr
        cache.set(COUNTER_KEY, cuts, timeout=None)


def cuts_total() -> int:
    """How many fragments the sanitizer has cut (since the cache was last cleared)."""
    return int(cache.get(COUNTER_KEY) or 0)


def clean_text(text: str, *, where: str = "a response") -> Cleaned:
    words, runs = _cut_ranges(text)
    if not runs:
        return Cleaned(text, 0)
    _count(len(runs), where)
    return Cleaned(_apply(text, words, runs, len(text)), len(runs))


def clean_value(value: Any, *, where: str) -> tuple[Any, int]:
    """``value`` (JSON: strings, lists, objects) with every string cleaned; and the cuts made."""
    if isinstance(value, str):
        cleaned = clean_text(value, where=where)
        return cleaned.text, cleaned.cuts
    if isinstance(value, list):
        parts = [clean_value(v, where=where) for v in value]
        return [p[0] for p in parts], sum(p[1] for p in parts)
    if isinstance(value, dict):
        parts = {k: clean_value(v, where=where) for k, v in value.items()}
        return {k: p[0] for k, p in parts.items()}, sum(p[1] for p in parts.values())
    return value, 0


def leaks(value: Any) -> bool:
    """True when ``value`` carries a server-prompt fragment (used by tests and checks)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return bool(_cut_ranges(text)[1])


def _stable_points(words: list[_Word], runs: list[tuple[int, int]]) -> tuple[int, int]:
    """Where the text a stream has so far stops being final (no later word can make what is
    before a part of a match), and where it may forget what is before (settled: cleaned, sent,
    and reading on from there finds the same matches)."""
    # A later word can only join a run with the last REACH words (the last word may still be
    # growing, or be repeated), or extend a run; and it never reaches across a break long enough
    # to stay one, whatever its last word turns out to be.
    first = len(words) - REACH - 1
    barrier = next(
        (i for i in range(len(words) - 1, max(first, 0) - 1, -1)
         if words[i].key == BREAK and words[i].count > JUNK + 1),
        None,
    )  # fmt: skip
    if barrier is not None:
        first = barrier + 1
    if runs and runs[-1][1] >= first:
        first = min(first, runs[-1][0])
    if first < 0:
        return 0, 0
    stable = words[first].start if first < len(words) else words[-1].last
    # From a word well before that, the words near the start may be read differently (a repeat
    # or junk cut in two), never the ones a match can still reach; from the last word of a
    # break, nothing before it counts.
    settle = first - SETTLE_MARGIN
    for start, end in runs:
        if start < settle <= end:
            settle = start
    settled = words[settle].start if settle > 0 else 0
    if barrier is not None:
        settled = max(settled, words[barrier].last)
    return stable, settled


class StreamSanitizer:
    """Cleans a streamed answer: ``feed(delta)`` returns what may be sent now, ``finish()``
    the rest. Together they send exactly ``clean_text(whole answer)``.

    Text well behind the point no later word can reach is settled: sent, and not read again,
    so an answer costs time in proportion to its length, not its square."""

    def __init__(self) -> None:
        self.raw = ""  # what arrived and is not settled
        self.sent = 0  # characters of ``raw``'s cleaned text already handed out

    def feed(self, delta: str) -> str:
        self.raw += delta
        words, runs = _cut_ranges(self.raw)
        stable, settled = _stable_points(words, runs)
        prefix = _apply(self.raw, words, runs, stable)
        out, self.sent = prefix[self.sent :], max(self.sent, len(prefix))
        if settled > 0:
            self.sent -= len(_apply(self.raw, words, runs, settled))
            self.raw = self.raw[settled:]
        return out

    def finish(self) -> str:
        words, runs = _cut_ranges(self.raw)
        return _apply(self.raw, words, runs, len(self.raw))[self.sent :]
