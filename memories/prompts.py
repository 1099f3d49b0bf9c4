"""Every prompt of memory extraction, and the JSON shape each answer must have: one place.

Change a prompt or a schema and bump PROMPT_VERSION; every extraction job records the version
it ran with, so a change in what gets remembered can be traced to the prompts that caused it.
"""

import json
from collections.abc import Sequence
from datetime import date
from typing import Any

PROMPT_VERSION = "2026-11.1"

EVENTS = ("ADD", "UPDATE", "DELETE", "NONE")

# --- 1. Facts from a conversation ------------------------------------------------------------

FACTS_SYSTEM = """\
You extract the facts worth remembering about the user from a conversation between the user \
and an AI assistant.

Rules:
- One fact per item: a short sentence that is true on its own, without the conversation. Say \
"The user ..." (or use their name); no pronouns that point back into the conversation.
- Only facts about the user and their world: preferences, plans, work, projects, people, \
places, possessions, health, decisions, constraints. Not general knowledge, not the \
assistant's suggestions unless the user accepted them, not small talk.
- Today is {today}. Write dates as dates: "next Friday" becomes the date it means.
- Write each fact in the language the user writes in.
- Nothing worth remembering: an empty list.

Answer with one JSON object and nothing else:
{{"facts": ["The user ...", "The user ..."]}}"""

FACTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["facts"],
    "properties": {
        "facts": {
            "type": "array",
            "items": {"type": "string", "minLength": 1, "maxLength": 1000},
        }
    },
}

# --- 2. What each fact does to the stored memories -------------------------------------------

DECISIONS_SYSTEM = """\
You keep a user's memory consistent. You get the stored memories that resemble some new facts \
(each memory with an id) and the new facts (each with an index). Decide, for every new fact, \
exactly one event:

- ADD: the fact is new. "text": the fact as it should be stored.
- UPDATE: the fact changes or refines a stored memory about the same thing (a newer value, \
more detail). "memory_id": that memory; "text": its new full text, keeping what is still true.
- DELETE: the fact says that a stored memory is no longer true, and leaves nothing new to \
store. "memory_id": that memory.
- NONE: the fact is already stored, or not worth storing. "memory_id": the memory that already \
says it, if one does.

Use only ids from the stored memories. Prefer UPDATE to ADD when a memory is about the same \
thing; never ADD a fact that contradicts a memory without also changing that memory.

Answer with one JSON object and nothing else, one operation per fact:
{"operations": [{"fact": 0, "event": "ADD", "text": "..."}, \
{"fact": 1, "event": "UPDATE", "memory_id": "0", "text": "..."}, \
{"fact": 2, "event": "DELETE", "memory_id": "1"}, {"fact": 3, "event": "NONE"}]}"""

_ID = {"type": ["string", "integer", "null"]}
DECISIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["operations"],
    "properties": {
        "operations": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["fact", "event"],
                "properties": {
                    "fact": {"type": "integer", "minimum": 0},
                    "event": {"enum": list(EVENTS)},
                    "memory_id": _ID,
                    "text": {"type": ["string", "null"], "maxLength": 2000},
                },
                "allOf": [
                    {
                        "if": {"properties": {"event": {"enum": ["ADD", "UPDATE"]}}},
                        "then": {
                            "required": ["text"],
                            "properties": {"text": {"type": "string", "minLength": 1}},
                        },
                    },
                    {
                        "if": {"properties": {"event": {"enum": ["UPDATE", "DELETE"]}}},
                        "then": {
                            "required": ["memory_id"],
                            "properties": {"memory_id": {"type": ["string", "integer"]}},
                        },
                    },
                ],
            },
        }
    },
}

# --- An answer that did not parse --------------------------------------------------------------

RETRY_USER = """\
Your answer could not be used: {reason}
Answer again with only the JSON object, in the shape the instructions give."""


def _roles_text(messages: Sequence[dict[str, str]]) -> str:
    return "\n\n".join(f"{m['role'].upper()}: {m['content']}" for m in messages)


def facts_messages(conversation: Sequence[dict[str, str]], *, today: date) -> list[dict[str, str]]:
    """The request for step 1: the conversation, as a transcript, to take facts from."""
    return [
        {"role": "system", "content": FACTS_SYSTEM.format(today=today.isoformat())},
        {"role": "user", "content": f"Conversation:\n\n{_roles_text(conversation)}"},
    ]


def decisions_messages(
    *, memories: Sequence[tuple[str, str]], facts: Sequence[str]
) -> list[dict[str, str]]:
    """The request for step 2: ``memories`` as ``(short id, text)``, and the new facts."""
    stored = [{"id": ref, "text": text} for ref, text in memories]
    new = [{"index": index, "text": fact} for index, fact in enumerate(facts)]
    body = (
        f"Stored memories:\n{json.dumps(stored, ensure_ascii=False, indent=1)}\n\n"
        f"New facts:\n{json.dumps(new, ensure_ascii=False, indent=1)}"
    )
    return [
        {"role": "system", "content": DECISIONS_SYSTEM},
        {"role": "user", "content": body},
    ]


def retry_messages(
    request: Sequence[dict[str, str]], *, answer: str, reason: str
) -> list[dict[str, str]]:
    """``request`` again, with the answer that failed and why, for the one retry."""
    return [
        *request,
        {"role": "assistant", "content": answer[:4000]},
        {"role": "user", "content": RETRY_USER.format(reason=reason)},
    ]
