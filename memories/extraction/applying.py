"""A run's decisions applied: all in one transaction that also marks the job succeeded, and
only while the run still holds its claim. Each change goes through the memory services (so it
is in the memory's history with the job); a memory changed or deleted since the LLM saw it, or
already changed by an earlier fact of the job, is left alone with the reason."""

import logging
import uuid
from typing import Any

from django.db import transaction

from core.errors import EngramError
from memories.extraction.claim import Run
from memories.extraction.planning import Decision, Plan
from memories.models import ExtractionJob, JobStatus, Memory, MemoryHistory, Source
from memories.services.drafts import MemoryDraft
from memories.services.records import memory_create, memory_delete, memory_update

logger = logging.getLogger(__name__)


def plan_apply(run: Run, plan: Plan) -> ExtractionJob | None:
    """Apply ``plan`` and mark the job succeeded with its operations; the job as it ended, or
    None (and nothing written) when another run took it over."""
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
    plan: Plan,
    decision: Decision,
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
