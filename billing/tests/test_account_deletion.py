"""An account deleted with a subscription (deletion.services.account_delete): it ends at
Stripe at once, and when Stripe cannot be reached nothing is deleted."""

import pytest

from accounts.models import User
from accounts.tests.factories import DEFAULT_PASSWORD
from billing.selectors import customer_of
from core.errors import ServiceUnavailable
from deletion.services import account_delete
from memories.models import Memory
from memories.tests.factories import MemoryFactory
from providers.payments.stripe_api import subscriptions_of

pytestmark = pytest.mark.django_db


def test_the_subscription_ends_at_stripe_with_the_account(user, subscribe):
    subscribe("pro")
    customer = customer_of(user=user)

    account_delete(user=user, password=DEFAULT_PASSWORD, confirm_email=user.email)

    assert [s["status"] for s in subscriptions_of(customer_id=customer.id)] == ["canceled"]
    assert not User.objects.filter(pk=user.pk).exists()


def test_stripe_unreachable_deletes_nothing(user, subscribe, settings, free_tcp_port):
    subscribe("pro")
    MemoryFactory(user=user)
    settings.STRIPE_API_BASE = f"http://127.0.0.1:{free_tcp_port}"

    with pytest.raises(ServiceUnavailable):
        account_delete(user=user, password=DEFAULT_PASSWORD, confirm_email=user.email)

    assert Memory.objects.filter(user=user).count() == 1
    assert User.objects.filter(pk=user.pk).exists()
