"""Work that follows a finished turn: naming the thread, rolling its summary, remembering the
exchange and extracting facts from it. ``turn_followups`` schedules it; chat.tasks runs it."""

import logging
from typing import Any

from django.utils import timezone

from accounts.models import User
from chat.models import Message, ModelContext, Thread
from chat.services.threads import TITLE_MAX_CHARS
from chat.services.turns import PreparedTurn
from core.errors import EngramError
from core.tasks import enqueue_or_leave
from llm.catalog import get_catalog
from llm.services import complete_for_user
from memories.models import JobTrigger
from memories.models import Provider as MemoryProvider
from memories.models import Source as MemorySource
from memories.services import MemoryDraft, extraction_schedule, memory_create_in_parts
from providers.llm import ProviderError
from providers.llm.tokens import count_tokens

logger = logging.getLogger(__name__)


def turn_followups(*, turn: PreparedTurn, answer: Message) -> None:
    """After an answer is saved: name a new thread, roll the summary, remember the exchange,
    and extract facts from it into the memories (after commit, when the user wants that).

    Called once ``turn_finish`` has committed the answer, outside any transaction, so the
    tasks that read it are sent at once. A task queue that is down costs the follow-ups (the
    next exchange names and summarises the thread again), never the answer.
    """
    if answer.status != Message.Status.COMPLETE:
        return
    if turn.thread_untitled:
        enqueue_or_leave("chat.thread_title_generate", str(turn.thread_id))
    if turn.in_thread and turn.history_truncated:
        enqueue_or_leave("chat.thread_summarize", str(turn.thread_id), turn.model.id)
    metadata = {"model": turn.model.id}
    if turn.in_thread:
        metadata |= {"thread_id": str(turn.thread_id), "message_id": str(answer.pk)}

    # The task reads the exchange from the thread. Without a queue, or without a thread to read
    # it from, the exchange is remembered here: it is a few inserts, with no sweep to come back.
    def remember_here() -> None:
        exchange_remember(
            user=User.objects.get(pk=turn.user_id),
            question=turn.question,
            answer=answer.content,
            metadata=metadata,
        )

    if turn.in_thread:
        enqueue_or_leave(
            "chat.exchange_remember",
            str(turn.user_message_id),
            str(answer.pk),
            on_failure=lambda reason: remember_here(),
        )
    else:
        remember_here()
    extraction_schedule(
        user_id=turn.user_id,
        messages=[
            {"role": "user", "content": turn.question},
            {"role": "assistant", "content": answer.content},
        ],
        trigger=JobTrigger.CHAT,
        metadata=metadata,
    )


# --- The work itself (run by chat.tasks) -------------------------------------------------------

TITLE_WORDS = 8
SUMMARY_MAX_TOKENS = 900  # the prompt asks for 300 to 700; this leaves the model room to finish
TITLE_PROMPT = (
    "Write a title of 3 to 6 words for a conversation that starts with the message below. "
    "Answer with the title only, without quotes."
)
SUMMARY_PROMPT = (
    "Summarize the conversation below for the assistant that continues it. Keep names, "
    "decisions, facts about the user, open questions and anything the assistant promised. "
    "Write 300 to 700 tokens of plain prose. If an earlier summary is given, merge it in."
)


def _first_words(text: str) -> str:
    words = text.split()
    title = " ".join(words[:TITLE_WORDS])
    return title + ("…" if len(words) > TITLE_WORDS else "")


def thread_title_generate(*, thread: Thread) -> str:
    """Name an untitled thread after its first exchange: by the model when it can, else by
    the first words of the first message. A title the user set is never replaced."""
    first = thread.messages.filter(role=Message.Role.USER).order_by("created_at").first()
    if thread.title or first is None:
        return thread.title
    try:
        completion = complete_for_user(
            user=thread.user,
            model_id=first.model_id,
            messages=[
                {"role": "system", "content": TITLE_PROMPT},
                {"role": "user", "content": first.content[:4000]},
            ],
            max_tokens=24,
        )
        title = completion.text.strip().strip("\"'").splitlines()[0] if completion.text else ""
    except (EngramError, ProviderError, IndexError) as exc:
        logger.info("Titling thread %s from its first words: %s", thread.pk, exc)
        title = ""
    title = (title or _first_words(first.content))[:TITLE_MAX_CHARS]
    Thread.objects.filter(pk=thread.pk, title="").update(title=title, title_generated=True)
    return title


def _transcript(messages: list[Message]) -> str:
    return "\n\n".join(f"{m.role.upper()}: {m.content}" for m in messages)


def thread_summarize(
    *, thread: Thread, model_id: str, keep_recent: int | None = None
) -> ModelContext:
    """Fold the older part of one model's conversation into its rolling summary.

    ``keep_recent`` messages stay out of the summary; by default, as many as fit half of the
    model's history budget. Safe to run twice: a summary written meanwhile is not overwritten.
    """
    model = get_catalog().get(model_id)
    context, _ = ModelContext.objects.get_or_create(thread=thread, model_id=model.id)
    pending = Message.objects.filter(thread=thread, model_id=model.id).exclude(content="")
    if context.summarized_until is not None:
        pending = pending.filter(created_at__gt=context.summarized_until)
    pending = list(pending.exclude(status=Message.Status.ERROR).order_by("created_at", "pk"))
    if keep_recent is None:
        budget = (model.context_length - model.max_output_tokens) // 2
        keep_recent, used = 0, 0
        for message in reversed(pending):
            used += count_tokens(message.content, model.upstream_id)
            if used > budget:
                break
            keep_recent += 1
    older = pending[: max(len(pending) - keep_recent, 0)]
    if not older:
        return context
    earlier = f"Earlier summary:\n{context.summary}\n\n" if context.summary else ""
    completion = complete_for_user(
        user=thread.user,
        model_id=model.id,
        messages=[
            {"role": "system", "content": SUMMARY_PROMPT},
            {"role": "user", "content": earlier + _transcript(older)},
        ],
        max_tokens=SUMMARY_MAX_TOKENS,
    )
    ModelContext.objects.filter(pk=context.pk, summarized_until=context.summarized_until).update(
        summary=completion.text.strip(),
        summary_tokens=completion.usage.completion_tokens,
        summarized_until=older[-1].created_at,
        updated_at=timezone.now(),
    )
    context.refresh_from_db()
    return context


def exchange_remember(*, user: User, question: str, answer: str, metadata: dict[str, Any]) -> None:
    """Save a finished exchange as a memory (source ``chat``) unless the user turned that off.
    Saving it twice stores it once (memories deduplicate identical content). An exchange longer
    than one memory may hold is saved in consecutive parts, so nothing said is dropped."""
    if not user.save_chat_memories:
        return
    memory_create_in_parts(
        user=user,
        draft=MemoryDraft(
            prompt=question,
            response=answer,
            provider=MemoryProvider.API,
            source=MemorySource.CHAT,
            metadata=metadata,
            thread_id=metadata.get("thread_id"),
        ),
    )
