import factory

from accounts.tests.factories import UserFactory
from tasks.models import Project, Task


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    user = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"Project {n}")


class TaskFactory(factory.django.DjangoModelFactory):
    """A task written directly (XP value 15: medium, difficulty 1); use the services for rules."""

    class Meta:
        model = Task

    user = factory.SubFactory(UserFactory)
    title = factory.Sequence(lambda n: f"Task number {n}")
    experience_points = 15
