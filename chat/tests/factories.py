import factory

from accounts.tests.factories import UserFactory
from chat.models import Message, Thread


class ThreadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Thread

    user = factory.SubFactory(UserFactory)
    title = factory.Sequence(lambda n: f"Thread {n}")


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    thread = factory.SubFactory(ThreadFactory)
    model_id = "gpt-4o-mini"
    role = Message.Role.USER
    content = factory.Sequence(lambda n: f"message {n}")
