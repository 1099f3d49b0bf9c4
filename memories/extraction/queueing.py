"""Extraction jobs put in the queue: one for a request, a re-run of old ones by an operator,
and the recovery of those whose task was lost."""

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from memories.extraction.claim import MAX_ATTEMPTS
from memories.models import ExtractionJob, JobStatus, JobTrigger
from memories.services.extraction_jobs import (
    conversation_checked,
    extraction_job_new,
    extraction_model_check,
)
from memories.services.scheduling import extraction_jobs_enqueue


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
    conversation = conversation_checked(messages)
    model_id = extraction_model_check(user=user)
    job = extraction_job_new(
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


def extraction_jobs_rerun(*, job_ids: Sequence[Any]) -> list[ExtractionJob]:
    """Queue a new job for each of ``job_ids`` on the same conversation and scope, with
    today's model and prompts (the operator's re-run). The old jobs stay as they were; the new
    ones name them in ``rerun_of``."""
    with transaction.atomic():
        jobs = [
            extraction_job_new(
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
