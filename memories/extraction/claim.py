"""The claim on a job: a compare-and-set from ``queued`` (or a stale ``running``) to
``running`` with a fresh run token. Every later write of the run checks the token, so a run
that was taken over writes nothing."""

import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from memories.models import ExtractionJob, JobStatus

logger = logging.getLogger(__name__)
# A stale run (its worker died) is taken over at most this many times in all.
MAX_ATTEMPTS = 3


@dataclass
class Run:
    """One run of a job: its claim, and what it has cost so far."""

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


def run_claim(job_id: Any) -> Run | None:
    """Claim the job ``job_id`` for a new run; None when it is not waiting to run (done,
    failed, or running elsewhere and not stale)."""
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
    return Run(job=ExtractionJob.objects.select_related("user").get(pk=job_id), token=token)


def run_fail(run: Run, reason: str) -> ExtractionJob | None:
    """Mark the job failed with ``reason`` if ``run`` still holds it; the job as it ended, or
    None when another run took it over."""
    logger.warning("Extraction job %s failed: %s", run.job.pk, reason)
    failed = ExtractionJob.objects.filter(
        pk=run.job.pk, status=JobStatus.RUNNING, run_token=run.token
    ).update(status=JobStatus.FAILED, error=reason[:2000], operations=[], **run.totals())
    return ExtractionJob.objects.get(pk=run.job.pk) if failed else None
