"""What a model sees for one turn: system prompt, recalled memories, the conversation summary,
as many recent messages as fit, and the new message — always within the model's budget.

Pure functions over plain data, so the rules can be read and tested without a database.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from providers.llm.errors import ContextTooLong
from providers.llm.tokens import count_message_tokens

DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant."
MEMORY_CHARS = 1_000  # one recalled memory is quoted up to this length
# The answer gets at most this share of the context window, and never more than the model's cap.
ANSWER_SHARE = 4


@dataclass(frozen=True)
class Recalled:
    """A memory chosen for this turn, as the prompt quotes it."""

    id: str
    text: str
    score: float
    created: str  # ISO date


@dataclass(frozen=True)
class Turn:
    role: str
    content: str


@dataclass(frozen=True)
class ContextPlan:
    messages: list[dict[str, str]]
    prompt_tokens: int
    max_answer_tokens: int
    memories_used: list[Recalled]
    # Older messages than the summary covers were left out: a new rolling summary is due.
    history_truncated: bool


def answer_budget(context_length: int, max_output_tokens: int) -> int:
    return min(max_output_tokens, context_length // ANSWER_SHARE)


def memory_block(memories: Sequence[Recalled]) -> str:
    """Recalled memories, quoted in a clearly marked block ("" when there are none)."""
    if not memories:
        return ""
    quoted = "\n".join(f"- ({memory.created}) {memory.text[:MEMORY_CHARS]}" for memory in memories)
    return (
        "<memories>\nThings the user told you in earlier conversations, recalled by Engram. "
        f"They may be out of date; use them only where they help.\n{quoted}\n</memories>"
    )


def memory_system_message(memories: Sequence[Recalled]) -> dict[str, str] | None:
    block = memory_block(memories)
    return {"role": "system", "content": block} if block else None


def _system_message(system_prompt: str, summary: str, memories: Sequence[Recalled]) -> dict:
    parts = [system_prompt.strip() or DEFAULT_SYSTEM_PROMPT]
    if memories:
        parts.append(memory_block(memories))
    if summary:
        parts.append(f"<conversation_summary>\n{summary}\n</conversation_summary>")
    return {"role": "system", "content": "\n\n".join(parts)}


def plan_context(
    *,
    model: str,
    context_length: int,
    max_output_tokens: int,
    system_prompt: str,
    summary: str,
    history: Sequence[Turn],
    memories: Sequence[Recalled],
    new_message: str,
) -> ContextPlan:
    """Fit the turn into ``context_length`` tokens, leaving room for the answer.

    Priority, highest first: the new message, the system prompt, the summary, the most recent
    history, then memories (dropped from the least relevant). ``history`` is oldest first.
    Raises ContextTooLong when the new message cannot fit with the system prompt alone.
    """
    answer = answer_budget(context_length, max_output_tokens)
    budget = context_length - answer
    user_turn = {"role": "user", "content": new_message}

    alone = count_message_tokens([_system_message(system_prompt, "", []), user_turn], model)
    if alone > budget:
        raise ContextTooLong(
            f"The message is too long for {model}.",
            details={
                "content": [f"It needs {alone} tokens; {model} takes at most {budget} here."],
                "tokens": alone,
                "limit": budget,
            },
        )

    if (
        count_message_tokens([_system_message(system_prompt, summary, []), user_turn], model)
        > budget
    ):
        summary = ""  # a summary that cannot fit beside the message gives way to it
    recalled = list(memories)
    while True:
        system = _system_message(system_prompt, summary, recalled)
        fixed = count_message_tokens([system, user_turn], model)
        if fixed <= budget or not recalled:
            break
        recalled.pop()

    kept: list[dict[str, str]] = []
    used = fixed
    for turn in reversed(history):
        message = {"role": turn.role, "content": turn.content}
        cost = count_message_tokens([message], model) - count_message_tokens([], model)
        if used + cost > budget:
            break
        kept.append(message)
        used += cost
    kept.reverse()

    messages = [system, *kept, user_turn]
    return ContextPlan(
        messages=messages,
        prompt_tokens=count_message_tokens(messages, model),
        max_answer_tokens=answer,
        memories_used=recalled,
        history_truncated=len(kept) < len(history),
    )
