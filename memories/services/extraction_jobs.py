"""New extraction jobs: the conversation and the model a job takes, checked, and the stored job.

The job row holds the conversation, so the task queue carries only its id (``scheduling``
enqueues it after commit, and the extraction sweep finds a job whose task was lost);
``memories.extraction`` runs it.
"""

import logging
from collections.abc import Sequence
from typing import Any

from django.conf import settings

from accounts.models import User
from core.errors import (
    EngramError,
    PayloadTooLarge,
    ValidationFailed,
)
from llm.selectors import model_usable_check
from memories import prompts
from memories.models import ExtractionJob

logger = logging.getLogger(__name__)

ROLES = ("user", "assistant", "system")


def extraction_model_check(*, user: User) -> str:
    """The id of the model extraction uses for ``user`` (MEMORY_EXTRACTION_MODEL); 503 when
    ``user`` cannot use it (llm.selectors.model_usable_check)."""
    return model_usable_check(
        user,
        model_id=settings.MEMORY_EXTRACTION_MODEL,
        purpose="memory extraction",
        setting="MEMORY_EXTRACTION_MODEL",
    )


def conversation_checked(messages: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
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


def extraction_job_new(
    *, user: User, model_id: str, conversation: list[dict[str, str]], **fields: Any
) -> ExtractionJob:
    """Store a queued job of ``user`` on ``conversation`` (already checked) with today's
    prompts; ``fields``: the job's other columns (trigger, scope, metadata, rerun_of)."""
    return ExtractionJob.objects.create(
        user=user,
        messages=conversation,
        model=model_id,
        prompt_version=prompts.PROMPT_VERSION,
        **fields,
    )


def extraction_job_auto_new(
    *,
    user_id: Any,
    messages: Sequence[dict[str, Any]],
    trigger: str,
    agent_id: str = "",
    session_id: str = "",
    metadata: dict[str, Any] | None = None,
) -> ExtractionJob | None:
    """The queued job of an automatic extraction (after a chat exchange or a completed
    capture), or None when the user is gone or turned ``auto_extract`` off, or when there is
    no LLM for it or nothing to read (those two are logged)."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None or not user.auto_extract:
        return None
    try:
        conversation = conversation_checked(messages)
        model_id = extraction_model_check(user=user)
    except EngramError as exc:
        logger.info("Automatic extraction for user %s skipped: %s", user_id, exc.message)
        return None
    return extraction_job_new(
        user=user,
        model_id=model_id,
        conversation=conversation,
        trigger=trigger,
        agent_id=agent_id,
        session_id=session_id,
        metadata=metadata or {},
    )
