"""One turn of a conversation: prepare it (model, context, memories, the saved question),
finish it (the answer as far as it got, its usage). Streaming the answer between the two is
chat/streaming.py's; what follows a finished turn is chat/services/followups.py's."""

import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Persona, User
from chat.context import Recalled, Turn, memory_system_message, plan_context
from chat.models import Message, ModelContext, Thread
from chat.services.threads import thread_create
from llm.catalog import ModelSpec
from llm.credentials import ResolvedModel, model_resolve
from llm.services import usage_cost, usage_for_user
from memories.selectors import memories_query_prefetch
from memories.spaces import memories_search_scoped
from providers.llm import ContextTooLong, Usage
from providers.llm.tokens import count_message_tokens, count_tokens


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


def _recall_started(user: User, content: str) -> None:
    """Embed the message for ``_recall`` while the turn's other reads run."""
    if user.memory_enabled and content.strip():
        memories_query_prefetch(content)


def _recall(user: User, content: str, include_team: str | None) -> list[Recalled]:
    if not user.memory_enabled:
        return []
    # The floor keeps unrelated memories away from the provider: a prompt gets only what
    # bears on the message, however few that is.
    # With the teams ``include_team`` names, else those the user leaves in their searches
    # (memories.spaces).
    outcome = memories_search_scoped(
        user=user,
        query=content,
        include_team=include_team,
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
        for hit in (scoped.hit for scoped in outcome.hits)
    ]


def _history(thread: Thread, model_id: str, after) -> list[Turn]:
    """The thread's exchanges with ``model_id`` since ``after``, as the model is sent them. A
    question whose answer failed or never came is left out: kept, every retry of it went again
    (eight failures, eight copies of the question before the ninth)."""
    messages = Message.objects.filter(thread=thread, model_id=model_id)
    if after is not None:
        messages = messages.filter(created_at__gt=after)
    rows = messages.order_by("created_at", "pk").values_list("role", "content", "status")
    turns: list[Turn] = []
    for role, content, status in rows:
        if role == Message.Role.USER:
            if turns and turns[-1].role == Message.Role.USER:
                turns.pop()  # the question before it got no answer
            turns.append(Turn(role, content))
        elif content and status != Message.Status.ERROR:
            turns.append(Turn(role, content))
    if turns and turns[-1].role == Message.Role.USER:
        turns.pop()
    return turns


def exchange_save(*, turn: "PreparedTurn") -> None:
    """Save a thread turn's question and the empty assistant message (``streaming``) that its
    answer will fill, under the ids the turn was prepared with, in one transaction.

    Runs while the upstream request starts (chat.streaming), not before it: the first token
    does not wait for these inserts, and no token is sent before they are done.
    """
    with transaction.atomic():
        # One after the other, so the question's created_at comes first (history's order).
        Message.objects.create(
            pk=turn.user_message_id,
            thread_id=turn.thread_id,
            model_id=turn.model.id,
            role=Message.Role.USER,
            content=turn.question,
        )
        Message.objects.create(
            pk=turn.assistant_message_id,
            thread_id=turn.thread_id,
            model_id=turn.model.id,
            role=Message.Role.ASSISTANT,
            status=Message.Status.STREAMING,
            temperature=turn.temperature,
            memories_used=turn.memories_used,
        )
        Thread.objects.filter(pk=turn.thread_id).update(updated_at=timezone.now())


def thread_start(
    *,
    user: User,
    title: str,
    persona: Persona | None,
    model_id: str,
    content: str,
    temperature: float | None,
    include_team: str | None = None,
) -> PreparedTurn:
    """A new thread and its first turn, prepared (``turn_prepare``): one call for a client
    that starts a conversation with its first message. Nothing is created when the turn
    cannot be prepared (an unknown model, a message too long)."""
    with transaction.atomic():
        thread = thread_create(user=user, title=title, persona=persona)
        return turn_prepare(
            user=user,
            thread=thread,
            model_id=model_id,
            content=content,
            temperature=temperature,
            include_team=include_team,
        )


def turn_prepare(
    *,
    user: User,
    thread: Thread,
    model_id: str,
    content: str,
    temperature: float | None,
    include_team: str | None = None,
) -> PreparedTurn:
    """Check the request, recall memories (with the team spaces ``include_team`` selects:
    memories.spaces.TEAM_SCOPE_PATTERN, a team the user is not in a 404) and plan the context.
    The user's message and the assistant message the answer will fill are saved by
    ``exchange_save`` under the ids given here, while the upstream request starts."""
    _recall_started(user, content)
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
        memories=_recall(user, content, include_team),
        new_message=content,
    )
    memories_used = [{"id": m.id, "score": m.score} for m in plan.memories_used]
    return PreparedTurn(
        user_id=user.pk,
        resolved=resolved,
        messages=plan.messages,
        temperature=temperature,
        max_answer_tokens=plan.max_answer_tokens,
        question=content,
        assistant_message_id=uuid.uuid4(),
        memories_used=memories_used,
        history_truncated=plan.history_truncated,
        thread_id=thread.pk,
        thread_untitled=not thread.title,
        user_message_id=uuid.uuid4(),
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
    include_team: str | None = None,
) -> PreparedTurn:
    """An OpenAI-style request with the caller's relevant memories put in front.

    The client owns the history; Engram adds memories as a first system message (dropping
    them if they would not fit) and, with a thread, records the exchange in it. With a
    ``persona``, its prompt comes first and its temperature is the default.
    """
    question = next(
        (_text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), ""
    )
    _recall_started(user, question)
    resolved = model_resolve(user=user, model_id=model_id)
    model = resolved.model
    if temperature is None and persona is not None:
        temperature = persona.temperature
    temperature = model.resolve_temperature(temperature)
    speaker = [{"role": "system", "content": persona.system_prompt}] if persona else []
    answer_tokens = min(max_tokens or model.max_output_tokens, model.max_output_tokens)
    budget = model.context_length - answer_tokens
    recalled = _recall(user, question, include_team) if question.strip() else []
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
        turn_ids |= {
            "thread_id": thread.pk,
            "thread_untitled": not thread.title,
            "user_message_id": uuid.uuid4(),
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
