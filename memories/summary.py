"""Turning the facts about a user's memories into a short profile.

Every summary is extractive for now: built from the facts alone (top tags, providers, the most
important and most recent memories), no model involved. ``generate`` is the one seam where an
LLM-written profile plugs in once chat's LLM gateway exists (issue 5); callers do not change.
"""

from dataclasses import dataclass
from typing import Any

SNIPPET_CHARS = 120


@dataclass(frozen=True)
class GeneratedSummary:
    text: str
    generator: str


def generate(facts: dict[str, Any]) -> GeneratedSummary:
    """A profile of the memories ``facts`` describes (see ``selectors.memory_summary_facts``)."""
    return GeneratedSummary(text=extractive(facts), generator="extractive")


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1].rstrip() + "…"


def _share(counts: dict[str, int], total: int) -> str:
    parts = [f"{name} ({round(100 * count / total)}%)" for name, count in counts.items()]
    return ", ".join(parts)


def extractive(facts: dict[str, Any]) -> str:
    total = facts["memory_count"]
    if not total:
        return "No memories yet."
    lines = [
        f"{total} memor{'y' if total == 1 else 'ies'} from {facts['first_at'][:10]} "
        f"to {facts['last_at'][:10]}."
    ]
    if facts["providers"]:
        lines.append(f"Mostly from {_share(facts['providers'], total)}.")
    if facts["top_tags"]:
        lines.append("Frequent topics: " + ", ".join(facts["top_tags"]) + ".")
    if facts["important"]:
        lines.append("Most important:")
        lines.extend(f"- {_snippet(item['text'])}" for item in facts["important"])
    if facts["recent"]:
        lines.append("Most recent:")
        lines.extend(f"- {_snippet(item['text'])}" for item in facts["recent"])
    return "\n".join(lines)
