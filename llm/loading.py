"""Loading local (Ollama) models: a pull runs in the background and reports progress.

Why not a Celery task: without a broker Celery runs tasks inside the request (the embedded
setup), which would hold ``POST /load`` for the whole download, and a pull of several
gigabytes outlives any sensible task time limit. Ollama does the work; Engram only starts it
and relays progress. So a pull runs on one background event loop per web process, and its
progress lives in the cache (shared by every process when ``REDIS_URL`` is set), where the
status endpoint and the SSE stream read it from any process.

One pull per model at a time (``cache.add`` on a lock key); the lock expires after
``LLM_PULL_STALL_SECONDS`` without progress, so a pull whose process died shows as failed and
can be started again (Ollama resumes the download).
"""

import logging
import time
import uuid
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.core.cache import cache

from core.errors import ValidationFailed
from llm.catalog import ModelSpec, ModelUnavailable, UnavailableReason, get_catalog
from llm.loop import background_loop
from providers.llm import ollama
from providers.llm.errors import ProviderError

logger = logging.getLogger(__name__)

JOB_RETENTION_SECONDS = 24 * 3600
SAVE_EVERY_SECONDS = 0.2


class LoadState(StrEnum):
    LOADING = "loading"
    LOADED = "loaded"
    ERROR = "error"


@dataclass(frozen=True)
class LoadJob:
    job_id: str
    model_id: str
    state: LoadState
    started_at: float
    updated_at: float
    detail: str = ""  # Ollama's last status line
    completed: int = 0  # bytes, summed over the layers seen so far
    total: int = 0
    error: str = ""

    @property
    def percent(self) -> int | None:
        if self.state == LoadState.LOADED:
            return 100
        if not self.total:
            return None
        return min(99, self.completed * 100 // self.total)

    @property
    def remaining_seconds(self) -> int | None:
        """While it runs: the seconds the rest should take at the rate so far (None before
        there is a rate to go by)."""
        elapsed = self.updated_at - self.started_at
        if self.state != LoadState.LOADING or not self.completed or elapsed <= 0:
            return None
        return round(max(0, self.total - self.completed) * elapsed / self.completed)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "state": self.state.value, "percent": self.percent}


def _job_key(model_id: str) -> str:
    return f"llm:model-load:{model_id}"


def _lock_key(model_id: str) -> str:
    return f"llm:model-load:{model_id}:running"


def _save(job: LoadJob) -> None:
    cache.set(_job_key(job.model_id), job.as_dict(), JOB_RETENTION_SECONDS)
    if job.state == LoadState.LOADING:
        cache.set(_lock_key(job.model_id), job.job_id, settings.LLM_PULL_STALL_SECONDS)
    else:
        cache.delete(_lock_key(job.model_id))


def current_load(model_id: str) -> LoadJob | None:
    """The latest load of ``model_id`` (running or finished in the last day), or None.

    A load still marked running whose lock expired stopped reporting: it is returned failed.
    """
    data = cache.get(_job_key(model_id))
    if data is None:
        return None
    data = {key: value for key, value in data.items() if key != "percent"}
    job = LoadJob(**{**data, "state": LoadState(data["state"])})
    if job.state == LoadState.LOADING and cache.get(_lock_key(model_id)) != job.job_id:
        return replace(
            job,
            state=LoadState.ERROR,
            error="The pull stopped reporting progress (the server may have restarted).",
        )
    return job


def model_load_start(*, model: ModelSpec) -> LoadJob:
    """Start pulling local ``model`` into Ollama in the background, or return the pull already
    running. Raises ValidationFailed for a model that is not local, ModelUnavailable when
    Ollama is not configured."""
    if not model.local:
        raise ValidationFailed(
            f"{model.name} is not a local model; it needs no loading.",
            details={"model": [f"'{model.id}' is served by {model.provider}."]},
        )
    provider = get_catalog().provider_of(model)
    if not provider.configured:
        raise ModelUnavailable(
            f"{provider.name} is not configured on this server.",
            details={"model": model.id, "reason": UnavailableReason.PROVIDER_NOT_CONFIGURED},
        )
    now = time.time()
    job = LoadJob(
        job_id=uuid.uuid4().hex,
        model_id=model.id,
        state=LoadState.LOADING,
        started_at=now,
        updated_at=now,
        detail="starting",
    )
    if not cache.add(_lock_key(model.id), job.job_id, settings.LLM_PULL_STALL_SECONDS):
        running = current_load(model.id)
        if running is not None and running.state == LoadState.LOADING:
            return running
        # The lock outlived its job's record: take it over.
    _save(job)
    background_loop.submit(_pull(job, provider.base_url, model.upstream_id))
    return job


async def _pull(job: LoadJob, base_url: str, upstream_id: str) -> LoadJob:
    """Relay one pull's progress into the cache; the final state is saved whatever happens."""
    layers: dict[str, tuple[int, int]] = {}
    saved_at = 0.0
    try:
        async for progress in ollama.pull(
            base_url, upstream_id, read_timeout=settings.LLM_PULL_STALL_SECONDS
        ):
            if progress.digest:
                layers[progress.digest] = (progress.completed, progress.total)
            changed = progress.status != job.detail
            job = replace(
                job,
                detail=progress.status,
                completed=sum(done for done, _ in layers.values()),
                total=sum(size for _, size in layers.values()),
                updated_at=time.time(),
            )
            if changed or job.updated_at - saved_at >= SAVE_EVERY_SECONDS:
                _save(job)
                saved_at = job.updated_at
        job = replace(job, state=LoadState.LOADED, detail="success", updated_at=time.time())
    except ProviderError as exc:
        reason = exc.details.get("upstream_message")
        message = f"{exc.message} {reason}" if reason else exc.message
        job = replace(job, state=LoadState.ERROR, error=message, updated_at=time.time())
    except Exception:
        logger.exception("Pulling %s failed", upstream_id)
        job = replace(job, state=LoadState.ERROR, error="The pull failed.", updated_at=time.time())
    _save(job)
    return job
