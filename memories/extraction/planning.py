"""What a run will do: the facts the LLM reads in the conversation, the stored memories most
similar to them, and the LLM's decision per fact. Every answer must be JSON of the prompt's
schema; one that is not is asked for again once, with the reason."""

import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.utils import timezone
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from core.parsers import JSONInputError, json_loads
from llm.services import complete_for_user
from memories import prompts
from memories.extraction.claim import Run
from memories.models import Memory
from memories.selectors import MemoryFilters, memories_similar
from providers.llm import Completion

logger = logging.getLogger(__name__)
T = TypeVar("T")

# JSON mode where the provider has it, and the most repeatable answer.
JSON_OPTIONS = {"response_format": {"type": "json_object"}, "temperature": 0}

_FACTS = Draft202012Validator(prompts.FACTS_SCHEMA)
_DECISIONS = Draft202012Validator(prompts.DECISIONS_SCHEMA)
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


class InvalidAnswer(Exception):
    """The LLM's answer is not JSON of the expected shape; the message says why."""


class ExtractionFailed(Exception):
    """The job cannot succeed; the message is the reason recorded on it."""


@dataclass(frozen=True)
class Decision:
    fact: int
    event: str
    memory_ref: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class Plan:
    facts: list[str]
    shown: dict[str, Memory]  # what the LLM saw, by the short id it saw
    decisions: list[Decision]


def run_plan(run: Run) -> Plan:
    """The facts of ``run``'s conversation and a decision for each; raises ExtractionFailed
    when the LLM answered badly twice (provider and embedding errors propagate)."""
    job = run.job
    request = prompts.facts_messages(job.messages, today=timezone.now().date())
    run.facts = facts = _ask(run, request, _FACTS, _read_facts)
    if not facts:
        return Plan(facts=[], shown={}, decisions=[])
    scope = MemoryFilters(agent_id=job.agent_id, session_id=job.session_id, captured=False)
    similar = memories_similar(
        user=job.user, texts=facts, top_k=settings.MEMORY_EXTRACTION_CANDIDATES, filters=scope
    )
    shown: dict[str, Memory] = {}
    seen: set[uuid.UUID] = set()
    for hits in similar:
        for hit in hits:
            if hit.memory.pk not in seen:
                seen.add(hit.memory.pk)
                shown[str(len(shown))] = hit.memory
    if not shown:
        decisions = [Decision(fact=i, event="ADD", text=fact) for i, fact in enumerate(facts)]
        return Plan(facts=facts, shown=shown, decisions=decisions)
    request = prompts.decisions_messages(
        memories=[(ref, memory.content) for ref, memory in shown.items()], facts=facts
    )
    decisions = _ask(
        run, request, _DECISIONS, lambda data: _read_decisions(data, facts=len(facts), shown=shown)
    )
    return Plan(facts=facts, shown=shown, decisions=decisions)


def _complete(run: Run, messages: list[dict[str, str]]) -> Completion:
    started = time.perf_counter()
    try:
        completion = complete_for_user(
            user=run.job.user,
            model_id=run.job.model,
            messages=messages,
            max_tokens=settings.MEMORY_EXTRACTION_MAX_TOKENS,
            options=JSON_OPTIONS,
        )
    finally:
        run.llm_seconds += time.perf_counter() - started
    run.prompt_tokens += completion.usage.prompt_tokens
    run.completion_tokens += completion.usage.completion_tokens
    return completion


def _parsed(text: str, validator: Draft202012Validator) -> Any:
    """The JSON in ``text`` (a fenced code block is unwrapped), valid against ``validator``."""
    cleaned = text.strip()
    if fenced := _FENCE.match(cleaned):
        cleaned = fenced.group(1)
    try:
        data = json_loads(cleaned)
    except JSONInputError as exc:
        raise InvalidAnswer(f"the answer is not JSON ({exc})") from None
    if (error := best_match(validator.iter_errors(data))) is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "the answer"
        raise InvalidAnswer(f"{where}: {error.message}"[:300])
    return data


def _ask(
    run: Run,
    request: list[dict[str, str]],
    validator: Draft202012Validator,
    read: Callable[[Any], T],
) -> T:
    """Ask, and read the answer with ``read``; one retry that tells the model what was wrong."""
    messages = request
    for attempt in (1, 2):
        completion = _complete(run, messages)
        try:
            return read(_parsed(completion.text, validator))
        except InvalidAnswer as exc:
            if attempt == 2:
                raise ExtractionFailed(
                    f"The model's answer was not valid twice; the second time: {exc}"
                ) from None
            logger.info("Extraction job %s: invalid answer, asking again: %s", run.job.pk, exc)
            messages = prompts.retry_messages(request, answer=completion.text, reason=str(exc))
    raise AssertionError("unreachable")


def _read_facts(data: dict[str, Any]) -> list[str]:
    facts: dict[str, None] = {}
    for fact in data["facts"]:
        if cleaned := " ".join(fact.split()):
            facts.setdefault(cleaned, None)
    return list(facts)[: settings.MEMORY_EXTRACTION_MAX_FACTS]


def _read_decisions(
    data: dict[str, Any], *, facts: int, shown: dict[str, Memory]
) -> list[Decision]:
    by_fact: dict[int, Decision] = {}
    for number, operation in enumerate(data["operations"]):
        index, event = operation["fact"], operation["event"]
        if index >= facts:
            raise InvalidAnswer(f"operations/{number}: there is no fact {index}")
        if index in by_fact:
            raise InvalidAnswer(f"operations/{number}: fact {index} has a second operation")
        ref = operation.get("memory_id")
        ref = None if ref is None else str(ref)
        if event in ("UPDATE", "DELETE") and ref not in shown:
            raise InvalidAnswer(f"operations/{number}: there is no stored memory '{ref}'")
        by_fact[index] = Decision(
            fact=index,
            event=event,
            memory_ref=ref if ref in shown else None,
            text=" ".join((operation.get("text") or "").split()) or None,
        )
    # A fact the model said nothing about is left alone.
    return [by_fact.get(index, Decision(fact=index, event="NONE")) for index in range(facts)]
