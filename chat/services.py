"""Chat writes: threads, and the messages of one model's conversation in a thread."""

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Persona, User
from chat.context import Recalled, Turn, memory_system_message, plan_context
from chat.models import Message, ModelContext, Thread
from core.errors import EngramError
from core.tasks import enqueue_or_leave
from llm.catalog import ModelSpec, get_catalog
from llm.credentials import ResolvedModel, model_resolve
from llm.services import complete_for_user, usage_cost, usage_for_user
from memories.models import JobTrigger
from memories.models import Provider as MemoryProvider
from memories.models import Source as MemorySource
from memories.selectors import memories_search
from memories.services import (
    MemoryDraft,
    extraction_schedule,
    memory_create_in_parts,
    thread_detach,
)
from providers.llm import ContextTooLong, ProviderError, Usage
from providers.llm.tokens import count_message_tokens, count_tokens

logger = logging.getLogger(__name__)
TITLE_MAX_CHARS = 200


def thread_create(*, user: User, title: str = "", persona: Persona | None = None) -> Thread:
    return Thread.objects.create(user=user, title=title.strip()[:TITLE_MAX_CHARS], persona=persona)


def thread_persona_set(*, thread: Thread, persona: Persona | None) -> Thread:
    """The thread's next turns speak as ``persona`` (None: as the user's profile says)."""
    thread.persona = persona
    thread.save(update_fields=["persona", "updated_at"])
    return thread


def thread_rename(*, thread: Thread, title: str) -> Thread:
    thread.title = title.strip()[:TITLE_MAX_CHARS]
    thread.title_generated = False
    thread.save(update_fields=["title", "title_generated", "updated_at"])
    return thread


def thread_delete(*, thread: Thread) -> int:
    """Delete the thread with everything in it; return how many messages went with it."""
    with transaction.atomic():
        messages = thread.messages.count()
        thread_detach(user_id=thread.user_id, thread_id=thread.pk)
        thread.delete()
    return messages


# --- One turn of a conversation --------------------------------------------------------------


@dataclass(frozen=True)
class PreparedTurn:
    """Everything needed to ask the model, decided before the first byte goes upstream.

    A turn in a thread has saved messages (``thread_id`` and ``user_message_id`` set); a
    turn of the OpenAI-compatible endpoint without a thread saves only usage and memories,
    and ``assistant_message_id`` then just names the stream.
    """

    user_id: uuid.UUID
    resolved: ResolvedModel
    messages: list[dict[str, Any]]
    temperature: float
    max_answer_tokens: int
    question: str
    assistant_message_id: uuid.UUID
    memories_used: list[dict[str, Any]]
    history_truncated: bool = False
    thread_id: uuid.UUID | None = None
    thread_untitled: bool = False  # the thread gets a title after this exchange
    user_message_id: uuid.UUID | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def model(self) -> ModelSpec:
        return self.resolved.model

    @property
    def in_thread(self) -> bool:
        return self.thread_id is not None


def _recall(user: User, content: str) -> list[Recalled]:
    if not user.memory_enabled:
        return []
    # The floor keeps unrelated memories away from the provider: a prompt gets only what
    # bears on the message, however few that is.
    outcome = memories_search(
        user=user,
        query=content,
        mode="hybrid",
        top_k=settings.CHAT_MEMORY_TOP_K,
        min_score=settings.CHAT_MEMORY_MIN_SCORE,
    )
    return [
        Recalled(
            id=str(hit.memory.pk),
            text=hit.memory.content,
            score=round(hit.score, 4),
            created=hit.memory.created_at.date().isoformat(),
        )
        for hit in outcome.hits
    ]


def _history(thread: Thread, model_id: str, after) -> list[Turn]:
    messages = Message.objects.filter(thread=thread, model_id=model_id).exclude(content="")
    if after is not None:
        messages = messages.filter(created_at__gt=after)
    rows = messages.exclude(status=Message.Status.ERROR).order_by("created_at", "pk")
    return [Turn(role, content) for role, content in rows.values_list("role", "content")]


def _exchange_start(
    *,
    thread: Thread,
    model_id: str,
    content: str,
    temperature: float,
    memories_used: list[dict[str, Any]],
) -> tuple[Message, Message]:
    """Save the user's message and the empty assistant message (``streaming``) it awaits."""
    with transaction.atomic():
        question = Message.objects.create(
            thread=thread, model_id=model_id, role=Message.Role.USER, content=content
        )
        answer = Message.objects.create(
            thread=thread,
            model_id=model_id,
            role=Message.Role.ASSISTANT,
            status=Message.Status.STREAMING,
            temperature=temperature,
            memories_used=memories_used,
        )
        Thread.objects.filter(pk=thread.pk).update(updated_at=timezone.now())
    return question, answer


def turn_prepare(
    *, user: User, thread: Thread, model_id: str, content: str, temperature: float | None
) -> PreparedTurn:
    """Check the request, recall memories, plan the context, and save the user's message
    with an empty assistant message (status ``streaming``) that the answer will fill."""
    resolved = model_resolve(user=user, model_id=model_id)
    model = resolved.model
    persona = thread.persona
    if temperature is None and persona is not None:
        temperature = persona.temperature
    temperature = model.resolve_temperature(temperature)
    context = ModelContext.objects.filter(thread=thread, model_id=model.id).first()
    plan = plan_context(
        model=model.upstream_id,
        context_length=model.context_length,
        max_output_tokens=model.max_output_tokens,
        system_prompt=persona.system_prompt if persona else user.system_prompt,
        summary=context.summary if context else "",
        history=_history(thread, model.id, context.summarized_until if context else None),
        memories=_recall(user, content),
        new_message=content,
    )
    memories_used = [{"id": m.id, "score": m.score} for m in plan.memories_used]
    question, answer = _exchange_start(
        thread=thread,
        model_id=model.id,
        content=content,
        temperature=temperature,
        memories_used=memories_used,
    )
    return PreparedTurn(
        user_id=user.pk,
        resolved=resolved,
        messages=plan.messages,
        temperature=temperature,
        max_answer_tokens=plan.max_answer_tokens,
        question=content,
        assistant_message_id=answer.pk,
        memories_used=memories_used,
        history_truncated=plan.history_truncated,
        thread_id=thread.pk,
        thread_untitled=not thread.title,
        user_message_id=question.pk,
    )


def turn_finish(
    *, turn: PreparedTurn, text: str, usage: Usage | None, status: str, error: str = ""
) -> Message:
    """Save the answer as far as it got — complete, cancelled or failed — and its usage.

    Safe to call twice: only a message still ``streaming`` is written.
    """
    if usage is None:
        usage = Usage(
            prompt_tokens=count_message_tokens(turn.messages, turn.model.upstream_id),
            completion_tokens=count_tokens(text, turn.model.upstream_id) if text else 0,
            estimated=True,
        )
    cost = usage_cost(model=turn.model, usage=usage)
    answer = Message(
        pk=turn.assistant_message_id,
        thread_id=turn.thread_id,
        model_id=turn.model.id,
        role=Message.Role.ASSISTANT,
        content=text,
        status=status,
        error=error,
        temperature=turn.temperature,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cost_usd=cost,
        memories_used=turn.memories_used,
    )
    with transaction.atomic():
        if turn.in_thread:
            written = Message.objects.filter(
                pk=turn.assistant_message_id, status=Message.Status.STREAMING
            ).update(
                content=text,
                status=status,
                error=error,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                cost_usd=cost,
            )
            if not written:
                return Message.objects.get(pk=turn.assistant_message_id)
            answer = Message.objects.get(pk=turn.assistant_message_id)
        usage_for_user(user_id=turn.user_id, usage=usage, cost=cost)
    return answer


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


# --- Work that follows a turn (run by chat.tasks) --------------------------------------------

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


# --- The OpenAI-compatible endpoint ----------------------------------------------------------


def _text_of(content: Any) -> str:
    """The text of an OpenAI message content: a string, or the text parts of a list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def completion_prepare(
    *,
    user: User,
    model_id: str,
    messages: list[dict[str, Any]],
    temperature: float | None,
    max_tokens: int | None,
    options: dict[str, Any],
    thread: Thread | None = None,
    persona: Persona | None = None,
) -> PreparedTurn:
    """An OpenAI-style request with the caller's relevant memories put in front.

    The client owns the history; Engram adds memories as a first system message (dropping
    them if they would not fit) and, with a thread, records the exchange in it. With a
    ``persona``, its prompt comes first and its temperature is the default.
    """
    resolved = model_resolve(user=user, model_id=model_id)
    model = resolved.model
    if temperature is None and persona is not None:
        temperature = persona.temperature
    temperature = model.resolve_temperature(temperature)
    speaker = [{"role": "system", "content": persona.system_prompt}] if persona else []
    question = next(
        (_text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), ""
    )
    answer_tokens = min(max_tokens or model.max_output_tokens, model.max_output_tokens)
    budget = model.context_length - answer_tokens
    recalled = _recall(user, question) if question.strip() else []
    while True:
        memory_block = memory_system_message(recalled)
        prompt = speaker + ([memory_block] if memory_block else []) + messages
        tokens = count_message_tokens(prompt, model.upstream_id)
        if tokens <= budget or not recalled:
            break
        recalled.pop()
    if tokens > budget:
        raise ContextTooLong(
            f"The messages are too long for {model.name}.",
            details={"messages": [f"They need {tokens} tokens; the limit here is {budget}."]},
        )
    memories_used = [{"id": m.id, "score": m.score} for m in recalled]
    turn_ids: dict[str, Any] = {"assistant_message_id": uuid.uuid4()}
    if thread is not None:
        asked, answer = _exchange_start(
            thread=thread,
            model_id=model.id,
            content=question,
            temperature=temperature,
            memories_used=memories_used,
        )
        turn_ids = {
            "thread_id": thread.pk,
            "thread_untitled": not thread.title,
            "user_message_id": asked.pk,
            "assistant_message_id": answer.pk,
        }
    return PreparedTurn(
        user_id=user.pk,
        resolved=resolved,
        messages=prompt,
        temperature=temperature,
        max_answer_tokens=answer_tokens,
        question=question,
        memories_used=memories_used,
        options=options,
        **turn_ids,
    )
