import pytest
from django.test import Client

from accounts.tests.factories import UserFactory


@pytest.fixture
def person(db):
    return UserFactory(email="person@example.com")


@pytest.fixture
def browser(person) -> Client:
    """A signed-in browser of ``person`` (Django's test client, CSRF checked)."""
    client = Client(enforce_csrf_checks=False, HTTP_ACCEPT="text/html")
    client.force_login(person)
    return client
