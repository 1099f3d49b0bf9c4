"""Keeps server prompts on the server: no response, action or plan leaves carrying a system
prompt, a template's text, a tool's schema or the router's instructions.

Every server text is cut into shingles (runs of ``SHINGLE`` words, lower-cased, punctuation
ignored) and their hashes kept. Outgoing text is shingled the same way; every run that matches
is cut out, logged and counted. Short fragments (fewer than ``SHINGLE`` words) pass: a few
words of an instruction reveal nothing, and shorter shingles would cut ordinary sentences.

A stream is cleaned as it goes (``StreamSanitizer``): a word is sent once no later word can
make it part of a match, so a leaked prompt is never sent even in pieces.
"""

import functools
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache

from agents import prompts
from agents.registry import registry

logger = logging.getLogger(__name__)
SHINGLE = 6
COUNTER_KEY = "agents:sanitizer:cuts"
_WORD = re.compile(r"\w+", re.UNICODE)


def _hash(words: Iterable[str]) -> int:
    return hash(" ".join(words))


def server_texts() -> list[str]:
    """Everything the sanitizer guards: the templates, and every agent's tool definitions."""
    texts = prompts.all_texts()
    for spec in registry.all():
        texts += spec.schema_texts()
    return texts


@functools.cache
def fingerprints() -> frozenset[int]:
    found: set[int] = set()
    for text in server_texts():
        words = [w.lower() for w in _WORD.findall(text)]
        found.update(_hash(words[i : i + SHINGLE]) for i in range(len(words) - SHINGLE + 1))
    return frozenset(found)


@dataclass(frozen=True)
class Cleaned:
    text: str
    cuts: int


def _cut_ranges(text: str) -> tuple[list[re.Match], list[tuple[int, int]]]:
    """The words of ``text`` and the (start word, end word) runs that match a server text."""
    words = list(_WORD.finditer(text))
    known = fingerprints()
    lowered = [w.group().lower() for w in words]
    runs: list[tuple[int, int]] = []
    for i in range(len(words) - SHINGLE + 1):
        if _hash(lowered[i : i + SHINGLE]) in known:
            if runs and i <= runs[-1][1]:
                runs[-1] = (runs[-1][0], i + SHINGLE - 1)
            else:
                runs.append((i, i + SHINGLE - 1))
    return words, runs


def _apply(text: str, words: list[re.Match], runs: list[tuple[int, int]], upto: int) -> str:
    kept, position = [], 0
    for first, last in runs:
        start, end = words[first].start(), words[last].end()
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
    text = value if isinstance(value, str) else json.dumps(value)
    return bool(_cut_ranges(text)[1])


class StreamSanitizer:
    """Cleans a streamed answer: ``feed(delta)`` returns what may be sent now, ``finish()``
    the rest. Together they send exactly ``clean_text(whole answer)``."""

    def __init__(self) -> None:
        self.raw = ""
        self.sent = 0  # characters of the cleaned text already handed out
        self.cuts = 0

    def _clean_prefix(self, final: bool) -> str:
        words, runs = _cut_ranges(self.raw)
        if final:
            stable = len(self.raw)
        elif len(words) < SHINGLE:
            stable = 0
        else:
            # A later word can only join a run with the last SHINGLE - 1 complete words (the
            # last word may still be growing), or extend a run.
            stable = words[len(words) - SHINGLE].start()
            if runs and words[runs[-1][1]].end() > stable:
                stable = min(stable, words[runs[-1][0]].start())
        if final:
            # Counted and logged once, by clean_text() on the answer the stream ends with.
            self.cuts = len(runs)
        return _apply(self.raw, words, runs, stable)

    def feed(self, delta: str) -> str:
        self.raw += delta
        prefix = self._clean_prefix(final=False)
        out, self.sent = prefix[self.sent :], max(self.sent, len(prefix))
        return out

    def finish(self) -> str:
        prefix = self._clean_prefix(final=True)
        out, self.sent = prefix[self.sent :], len(prefix)
        return out
