"""Turning the facts about a user's memories into a short profile.

Two kinds: the extractive one, built from the facts alone (top tags, providers, the most
important and most recent memories), recomputed after every change; and the one the user's
model writes from their memories (``written_prompt``), in the background, when they changed
enough (``rewrite_due``). The written one is served when there is one; the extractive one
otherwise (no model is available to the user, or it has not written yet).
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


def _snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


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
    if facts["origins"]:
        lines.append(f"Mostly from {_share(facts['origins'], total)}.")
    if facts["top_tags"]:
        lines.append("Frequent topics: " + ", ".join(facts["top_tags"]) + ".")
    if facts["important"]:
        lines.append("Most important:")
        lines.extend(f"- {_snippet(item['text'])}" for item in facts["important"])
    if facts["recent"]:
        lines.append("Most recent:")
        lines.extend(f"- {_snippet(item['text'])}" for item in facts["recent"])
    return "\n".join(lines)


# --- Written by the user's model -------------------------------------------------------------

WRITTEN_MAX_TOKENS = 300
NOTE_CHARS = 400  # of each memory, in the notes the model reads
WRITTEN_INSTRUCTIONS = (
    "You write a short profile of a person from the notes they saved. Use only what the notes "
    "say: no guesses, no advice, nothing about the notes themselves. Third person, plain "
    "sentences, at most 5 sentences and 100 words. Answer with the profile alone."
)


def written_prompt(sources: list[dict[str, str]]) -> list[dict[str, str]]:
    """The messages asking a model for the profile of ``sources`` (``{"id", "text"}``)."""
    notes = "\n".join(f"- {_snippet(item['text'], NOTE_CHARS)}" for item in sources)
    return [
        {"role": "system", "content": WRITTEN_INSTRUCTIONS},
        {"role": "user", "content": f"<notes>\n{notes}\n</notes>"},
    ]


def rewrite_due(
    *, memory_count: int, has_written: bool, changes: int, min_memories: int, every: int
) -> bool:
    """The rule for asking the model again: once there are ``min_memories`` memories, when it
    has written nothing yet (or what it wrote was dropped: one of its memories is gone), or
    after ``every`` changes (saves, edits, deletions) since it wrote."""
    if memory_count < min_memories:
        return False
    return not has_written or changes >= every
