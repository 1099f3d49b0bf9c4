"""Background work after a chat turn. Tasks take ids, tolerate a vanished object, and are safe
to run twice (each service guards its own write)."""

import logging

from celery import shared_task

from chat import services
from chat.models import Thread
from chat.selectors import exchange_get
from core.errors import EngramError
from providers.llm import ProviderError

logger = logging.getLogger(__name__)


@shared_task(name="chat.thread_title_generate", ignore_result=True, soft_time_limit=60)
def thread_title_generate(thread_id: str) -> None:
    thread = Thread.objects.select_related("user").filter(pk=thread_id).first()
    if thread is None:
        logger.info("Thread %s is gone; no title to write", thread_id)
        return
    services.thread_title_generate(thread=thread)


@shared_task(name="chat.thread_summarize", ignore_result=True, soft_time_limit=120)
def thread_summarize(thread_id: str, model_id: str) -> None:
    thread = Thread.objects.select_related("user").filter(pk=thread_id).first()
    if thread is None:
        logger.info("Thread %s is gone; nothing to summarize", thread_id)
        return
    try:
        services.thread_summarize(thread=thread, model_id=model_id)
    except (EngramError, ProviderError) as exc:
        # The context keeps working without a summary (older turns fall out of the window).
        logger.warning("Could not summarize thread %s for %s: %s", thread_id, model_id, exc)


@shared_task(name="chat.exchange_remember", ignore_result=True)
def exchange_remember(question_id: str, answer_id: str) -> None:
    """Remember the exchange of the saved messages ``question_id`` (the user's) and
    ``answer_id`` (the answer), read from the thread: the queue carries only their ids."""
    exchange = exchange_get(question_id=question_id, answer_id=answer_id)
    if exchange is None:
        logger.info("The exchange of message %s is gone; it is not remembered", answer_id)
        return
    question, answer = exchange
    services.exchange_remember(
        user=answer.thread.user,
        question=question.content,
        answer=answer.content,
        metadata={
            "model": answer.model_id,
            "thread_id": str(answer.thread_id),
            "message_id": str(answer.pk),
        },
    )
