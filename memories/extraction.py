"""Memory intelligence: extraction jobs turn a conversation into facts and fold them into the
user's memories, so that a newer fact updates or removes an older one instead of piling up.

One job (``extraction_job_run``, run by the ``memories.extract`` task):

1. claim: compare-and-set ``queued`` to ``running`` with a fresh run token; a second run of
   the same job finds nothing to claim;
2. ask the LLM (MEMORY_EXTRACTION_MODEL) for short, self-contained facts: a JSON answer
   checked against ``prompts.FACTS_SCHEMA``; an answer that does not parse or match is asked
   for once more with the reason, then the job fails with it and changes nothing;
3. per fact, the most similar memories of the same user and scope (agent_id, session_id)
   through the semantic leg of search (``selectors.memories_similar``). Captured exchanges (a
   prompt and its response) are records of a conversation, not facts: never candidates;
4. when there are candidates, ask the LLM to decide per fact ``ADD``, ``UPDATE`` (a memory,
   its new text), ``DELETE`` (a memory the fact contradicts) or ``NONE``, checked likewise
   (memories are shown to it under short ids, so it cannot name one it was not shown);
   without candidates every fact is an ``ADD`` and the second call is not made;
5. apply every decision in one transaction, and only while the job still holds its run token;
   each change goes through the memory services, so it is recorded in the memory's history
   with the job (and can be undone with ``services.memory_revert``). A memory changed or
   deleted since it was shown to the LLM is left alone; so is one a previous fact of the same
   job already changed. The job is marked ``succeeded`` in the same transaction.

``operations`` of a job: one per fact, ``{fact, event, memory_id, text, previous_text, applied,
reason, history_id}``; ``applied`` false with a ``reason`` when nothing was written.
Token usage is recorded by ``llm.services.complete_for_user`` (the user's daily usage).
"""

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from accounts.models import User
from core.errors import (
    EngramError,
    ErrorCode,
    PayloadTooLarge,
    ServiceUnavailable,
    ValidationFailed,
)
from llm.catalog import UnknownModel
from llm.selectors import model_listing
from llm.services import complete_for_user
from memories import prompts
from memories.models import ExtractionJob, JobStatus, JobTrigger, Memory, MemoryHistory, Source
from memories.selectors import MemoryFilters, memories_similar
from memories.services.drafts import MemoryDraft
from memories.services.records import memory_create, memory_delete, memory_update
from memories.services.scheduling import extraction_jobs_enqueue
from providers.embeddings import EmbeddingError
from providers.llm import Completion, ProviderError

logger = logging.getLogger(__name__)
T = TypeVar("T")

ROLES = ("user", "assistant", "system")
# JSON mode where the provider has it, and the most repeatable answer.
JSON_OPTIONS = {"response_format": {"type": "json_object"}, "temperature": 0}
# A stale run (its worker died) is taken over at most this many times in all.
MAX_ATTEMPTS = 3

_FACTS = Draft202012Validator(prompts.FACTS_SCHEMA)
_DECISIONS = Draft202012Validator(prompts.DECISIONS_SCHEMA)
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


class InvalidAnswer(Exception):
    """The LLM's answer is not JSON of the expected shape; the message says why."""


class ExtractionFailed(Exception):
    """The job cannot succeed; the message is the reason recorded on it."""


# --- Starting jobs -------------------------------------------------------------------------------


def extraction_model_check(*, user: User) -> str:
    """The id of the model extraction uses for ``user`` (MEMORY_EXTRACTION_MODEL).

    Raises ServiceUnavailable (503, PROVIDER_UNAVAILABLE) when ``user`` cannot use it: the
    server has no key for it and neither has the user, its provider is not configured, or the
    catalog does not offer it.
    """
    model_id = settings.MEMORY_EXTRACTION_MODEL
    try:
        listing = model_listing(user, model_id)
    except UnknownModel:
        raise ServiceUnavailable(
            f"Memory extraction is set to use the model '{model_id}', which this server does "
            "not offer (MEMORY_EXTRACTION_MODEL).",
            details={"model": model_id, "reason": "unknown_model"},
            code=ErrorCode.PROVIDER_UNAVAILABLE,
        ) from None
    availability = listing.availability
    if not availability.available:
        assert availability.reason is not None
        raise ServiceUnavailable(
            "No language model is available for memory extraction: "
            f"{availability.message} (model '{model_id}').",
            details={"model": model_id, "reason": availability.reason.value},
            code=ErrorCode.PROVIDER_UNAVAILABLE,
        )
    return model_id


def _conversation(messages: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """The messages worth reading, checked: ValidationFailed when none has text,
    PayloadTooLarge past MEMORY_EXTRACTION_MAX_CHARS."""
    conversation = [
        {"role": str(message["role"]), "content": str(message["content"])}
        for message in messages
        if message.get("role") in ROLES and str(message.get("content") or "").strip()
    ]
    if not any(message["role"] != "system" for message in conversation):
        raise ValidationFailed(
            "The conversation has no user or assistant message with text.",
            details={"messages": ["At least one user or assistant message needs text."]},
        )
    limit = settings.MEMORY_EXTRACTION_MAX_CHARS
    length = sum(len(message["content"]) for message in conversation)
    if length > limit:
        raise PayloadTooLarge(
            f"The conversation exceeds the limit of {limit} characters.",
            details={"limit_chars": limit, "length": length},
        )
    return conversation


def _new_job(
    *, user: User, model_id: str, conversation: list[dict[str, str]], **fields: Any
) -> ExtractionJob:
    return ExtractionJob.objects.create(
        user=user,
        messages=conversation,
        model=model_id,
        prompt_version=prompts.PROMPT_VERSION,
        **fields,
    )


def extraction_job_create(
    *,
    user: User,
    messages: Sequence[dict[str, Any]],
    agent_id: str = "",
    session_id: str = "",
    metadata: dict[str, Any] | None = None,
) -> ExtractionJob:
    """Queue the extraction of facts from ``messages`` into ``user``'s memories of the scope
    (``agent_id``, ``session_id``); the job runs in the background after commit.

    Raises ValidationFailed (nothing to read), PayloadTooLarge (too long) or
    ProviderUnavailable (no LLM for it), and then stores nothing.
    """
    conversation = _conversation(messages)
    model_id = extraction_model_check(user=user)
    job = _new_job(
        user=user,
        model_id=model_id,
        conversation=conversation,
        trigger=JobTrigger.API,
        agent_id=agent_id,
        session_id=session_id,
        metadata=metadata or {},
    )
    extraction_jobs_enqueue(job_ids=[job.pk])
    return job


def extraction_auto_run(
    *,
    job_id: str,
    user_id: str,
    messages: list[dict[str, str]],
    trigger: str,
    agent_id: str = "",
    session_id: str = "",
    metadata: dict[str, Any] | None = None,
) -> ExtractionJob | None:
    """Automatic extraction after a chat exchange or a completed capture: create the job
    ``job_id`` and run it, unless the user turned ``auto_extract`` off, has no LLM for it, or
    the conversation has nothing to read; those are logged and skipped. Safe to run twice."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        logger.info("Extraction skipped: user %s is gone", user_id)
        return None
    if not user.auto_extract:
        return None
    job = ExtractionJob.objects.filter(pk=job_id).first()
    if job is None:
        try:
            conversation = _conversation(messages)
            model_id = extraction_model_check(user=user)
        except EngramError as exc:
            logger.info("Automatic extraction for user %s skipped: %s", user_id, exc.message)
            return None
        job, _ = ExtractionJob.objects.get_or_create(
            pk=job_id,
            defaults={
                "user": user,
                "messages": conversation,
                "model": model_id,
                "prompt_version": prompts.PROMPT_VERSION,
                "trigger": trigger,
                "agent_id": agent_id,
                "session_id": session_id,
                "metadata": metadata or {},
            },
        )
    return extraction_job_run(job_id=job.pk)


def extraction_jobs_rerun(*, job_ids: Sequence[Any]) -> list[ExtractionJob]:
    """Queue a new job for each of ``job_ids`` on the same conversation and scope, with
    today's model and prompts (the operator's re-run). The old jobs stay as they were; the new
    ones name them in ``rerun_of``."""
    with transaction.atomic():
        jobs = [
            _new_job(
                user=old.user,
                model_id=settings.MEMORY_EXTRACTION_MODEL,
                conversation=old.messages,
                trigger=JobTrigger.RERUN,
                rerun_of=old,
                agent_id=old.agent_id,
                session_id=old.session_id,
                metadata=old.metadata,
            )
            for old in ExtractionJob.objects.filter(pk__in=job_ids).select_related("user")
        ]
        extraction_jobs_enqueue(job_ids=[job.pk for job in jobs])
    return jobs


def extraction_jobs_recover(*, job_ids: Sequence[Any]) -> int:
    """Re-enqueue the jobs ``job_ids`` whose task was lost (``selectors.extraction_jobs_stale``);
    a run that went stale MAX_ATTEMPTS times is failed instead. Returns how many were queued."""
    stale = timezone.now() - timedelta(seconds=settings.MEMORY_EXTRACTION_STALE_SECONDS)
    ExtractionJob.objects.filter(
        pk__in=job_ids,
        status=JobStatus.RUNNING,
        started_at__lt=stale,
        attempts__gte=MAX_ATTEMPTS,
    ).update(
        status=JobStatus.FAILED,
        error=f"The job did not finish in {MAX_ATTEMPTS} attempts.",
        finished_at=timezone.now(),
    )
    alive = list(
        ExtractionJob.objects.filter(
            pk__in=job_ids, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
        ).values_list("pk", flat=True)
    )
    extraction_jobs_enqueue(job_ids=alive, committed=True)
    return len(alive)


# --- Running a job -------------------------------------------------------------------------------


@dataclass
class _Run:
    job: ExtractionJob
    token: uuid.UUID
    llm_seconds: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    facts: list[str] = field(default_factory=list)

    def totals(self) -> dict[str, Any]:
        return {
            "facts": self.facts,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "llm_ms": round(self.llm_seconds * 1000, 2),
            "finished_at": timezone.now(),
        }


@dataclass(frozen=True)
class _Decision:
    fact: int
    event: str
    memory_ref: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class _Plan:
    facts: list[str]
    shown: dict[str, Memory]  # what the LLM saw, by the short id it saw
    decisions: list[_Decision]


def extraction_job_run(*, job_id: Any) -> ExtractionJob | None:
    """Run the job ``job_id`` if it is queued (or a run of it went stale); return it as it
    ended, or None when there was nothing to run or another run took it over.

    Safe to run twice and concurrently: only the run holding the claim applies decisions, in
    the transaction that marks the job succeeded. A failed job changed no memory; its
    ``error`` says why.
    """
    run = _claim(job_id)
    if run is None:
        return None
    try:
        plan = _plan(run)
        return _apply(run, plan)
    except ExtractionFailed as exc:
        return _fail(run, str(exc))
    # No model for the user, the provider refused or is down.
    except (EngramError, ProviderError) as exc:
        return _fail(run, f"{exc.code}: {exc.message}")
    except EmbeddingError as exc:
        return _fail(run, f"The embedding model is unavailable: {exc}")
    except Exception as exc:
        _fail(run, f"Unexpected error ({type(exc).__name__}); see the worker's log.")
        raise


def _claim(job_id: Any) -> _Run | None:
    token, now = uuid.uuid4(), timezone.now()
    stale = now - timedelta(seconds=settings.MEMORY_EXTRACTION_STALE_SECONDS)
    claimed = (
        ExtractionJob.objects.filter(pk=job_id)
        .filter(
            Q(status=JobStatus.QUEUED)
            | Q(status=JobStatus.RUNNING, started_at__lt=stale, attempts__lt=MAX_ATTEMPTS)
        )
        .update(
            status=JobStatus.RUNNING,
            run_token=token,
            started_at=now,
            finished_at=None,
            attempts=F("attempts") + 1,
        )
    )
    if not claimed:
        logger.info("Extraction job %s is not waiting to run; nothing to do", job_id)
        return None
    return _Run(job=ExtractionJob.objects.select_related("user").get(pk=job_id), token=token)


def _fail(run: _Run, reason: str) -> ExtractionJob | None:
    logger.warning("Extraction job %s failed: %s", run.job.pk, reason)
    failed = ExtractionJob.objects.filter(
        pk=run.job.pk, status=JobStatus.RUNNING, run_token=run.token
    ).update(status=JobStatus.FAILED, error=reason[:2000], operations=[], **run.totals())
    return ExtractionJob.objects.get(pk=run.job.pk) if failed else None


def _complete(run: _Run, messages: list[dict[str, str]]) -> Completion:
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
        data = json.loads(cleaned)
    except ValueError as exc:
        raise InvalidAnswer(f"the answer is not JSON ({exc})") from None
    if (error := best_match(validator.iter_errors(data))) is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "the answer"
        raise InvalidAnswer(f"{where}: {error.message}"[:300])
    return data


def _ask(
    run: _Run,
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
) -> list[_Decision]:
    by_fact: dict[int, _Decision] = {}
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
        by_fact[index] = _Decision(
            fact=index,
            event=event,
            memory_ref=ref if ref in shown else None,
            text=" ".join((operation.get("text") or "").split()) or None,
        )
    # A fact the model said nothing about is left alone.
    return [by_fact.get(index, _Decision(fact=index, event="NONE")) for index in range(facts)]


def _plan(run: _Run) -> _Plan:
    job = run.job
    request = prompts.facts_messages(job.messages, today=timezone.now().date())
    run.facts = facts = _ask(run, request, _FACTS, _read_facts)
    if not facts:
        return _Plan(facts=[], shown={}, decisions=[])
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
        decisions = [_Decision(fact=i, event="ADD", text=fact) for i, fact in enumerate(facts)]
        return _Plan(facts=facts, shown=shown, decisions=decisions)
    request = prompts.decisions_messages(
        memories=[(ref, memory.content) for ref, memory in shown.items()], facts=facts
    )
    decisions = _ask(
        run, request, _DECISIONS, lambda data: _read_decisions(data, facts=len(facts), shown=shown)
    )
    return _Plan(facts=facts, shown=shown, decisions=decisions)


def _apply(run: _Run, plan: _Plan) -> ExtractionJob | None:
    with transaction.atomic():
        held = ExtractionJob.objects.select_for_update().filter(
            pk=run.job.pk, status=JobStatus.RUNNING, run_token=run.token
        )
        if not list(held.values_list("pk", flat=True)):
            logger.info("Extraction job %s was taken over; its decisions are dropped", run.job.pk)
            return None
        wanted = [
            plan.shown[d.memory_ref].pk for d in plan.decisions if d.event in ("UPDATE", "DELETE")
        ]
        targets = {
            memory.pk: memory
            for memory in Memory.objects.select_for_update()
            .filter(user_id=run.job.user_id, pk__in=wanted)
            .order_by("pk")
        }
        touched: set[uuid.UUID] = set()
        operations = [
            _apply_one(run.job, plan, decision, targets, touched) for decision in plan.decisions
        ]
        entries = dict(MemoryHistory.objects.filter(job=run.job).values_list("memory_id", "pk"))
        for operation in operations:
            if operation["applied"]:
                operation["history_id"] = str(entries[uuid.UUID(operation["memory_id"])])
        outcome = {"status": JobStatus.SUCCEEDED, "error": "", "operations": operations}
        outcome |= run.totals()
        held.update(**outcome)
    for name, value in outcome.items():
        setattr(run.job, name, value)
    return run.job


def _apply_one(
    job: ExtractionJob,
    plan: _Plan,
    decision: _Decision,
    targets: dict[uuid.UUID, Memory],
    touched: set[uuid.UUID],
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "fact": plan.facts[decision.fact],
        "event": decision.event,
        "memory_id": None,
        "text": decision.text,
        "previous_text": None,
        "applied": False,
        "reason": "",
        "history_id": None,
    }
    seen = plan.shown.get(decision.memory_ref) if decision.memory_ref else None
    if seen is not None:
        operation["memory_id"] = str(seen.pk)
    if decision.event == "NONE":
        return operation
    if decision.event == "ADD":
        draft = MemoryDraft(
            content=decision.text or "",
            source=Source.EXTRACTION,
            agent_id=job.agent_id,
            session_id=job.session_id,
            metadata={**job.metadata, "extraction_job_id": str(job.pk)},
        )
        try:
            memory, created = memory_create(user=job.user, draft=draft, job_id=job.pk)
        except EngramError as exc:  # quota, size
            return {**operation, "reason": exc.message}
        touched.add(memory.pk)
        reason = "" if created else "Already stored in this scope."
        return {**operation, "memory_id": str(memory.pk), "applied": created, "reason": reason}

    assert seen is not None
    operation["previous_text"] = seen.content
    target = targets.get(seen.pk)
    if target is None:
        return {**operation, "reason": "The memory was deleted after the decision."}
    if target.content != seen.content:
        return {**operation, "reason": "The memory changed after the decision."}
    if seen.pk in touched:
        return {**operation, "reason": "Another fact of this job already changed this memory."}
    touched.add(seen.pk)
    if decision.event == "DELETE":
        memory_delete(memory=target, job_id=job.pk)
        return {**operation, "applied": True}
    if (decision.text or "").strip() == target.content.strip():
        return {**operation, "reason": "The memory already says this."}
    try:
        memory_update(memory=target, changes={"content": decision.text}, job_id=job.pk)
    except EngramError as exc:  # the same text is stored in another memory of the scope, size
        return {**operation, "reason": exc.message}
    return {**operation, "applied": True}
