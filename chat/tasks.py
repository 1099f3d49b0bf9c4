"""Background work after a chat turn. Tasks take ids, tolerate a vanished object, and are safe
to run twice (each service guards its own write)."""

import logging

from celery import shared_task

from accounts.models import User
from chat import services
from chat.models import Thread
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
def exchange_remember(user_id: str, question: str, answer: str, metadata: dict) -> None:
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        logger.info("User %s is gone; the exchange is not remembered", user_id)
        return
    services.exchange_remember(user=user, question=question, answer=answer, metadata=metadata)
