import pytest

from chat.models import Thread
from chat.tests.factories import ThreadFactory

MODEL = "gpt-4o-mini"


@pytest.fixture
def thread(user) -> Thread:
    return ThreadFactory(user=user, title="")


@pytest.fixture
def messages_url(thread) -> str:
    return f"/api/v1/threads/{thread.pk}/models/{MODEL}/messages"
