"""One run of an extraction job, start to end: claim, plan, apply, or fail with the reason."""

from typing import Any

from core.errors import EngramError
from memories.extraction.applying import plan_apply
from memories.extraction.claim import run_claim, run_fail
from memories.extraction.planning import ExtractionFailed, run_plan
from memories.models import ExtractionJob
from providers.embeddings import EmbeddingError
from providers.llm import ProviderError


def extraction_job_run(*, job_id: Any) -> ExtractionJob | None:
    """Run the job ``job_id`` if it is queued (or a run of it went stale); return it as it
    ended, or None when there was nothing to run or another run took it over.

    Safe to run twice and concurrently: only the run holding the claim applies decisions, in
    the transaction that marks the job succeeded. A failed job changed no memory; its
    ``error`` says why.
    """
    run = run_claim(job_id)
    if run is None:
        return None
    try:
        plan = run_plan(run)
        return plan_apply(run, plan)
    except ExtractionFailed as exc:
        return run_fail(run, str(exc))
    # No model for the user, the provider refused or is down.
    except (EngramError, ProviderError) as exc:
        return run_fail(run, f"{exc.code}: {exc.message}")
    except EmbeddingError as exc:
        return run_fail(run, f"The embedding model is unavailable: {exc}")
    except Exception as exc:
        run_fail(run, f"Unexpected error ({type(exc).__name__}); see the worker's log.")
        raise
