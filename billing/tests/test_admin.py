"""The operator console shows customers and subscriptions in Engram's words, MRR per tier, and a
user's subscription and invoices; a re-sync action re-reads a customer from Stripe."""

import re

import pytest
from djstripe.models import Customer, Subscription

from accounts.models import User

pytestmark = pytest.mark.django_db


def test_subscriptions_list_tier_status_and_mrr(operator_client, subscribe):
    subscribe("team", seats=2)

    page = operator_client.get("/admin/djstripe/subscription/")

    assert page.status_code == 200
    html = page.content.decode()
    assert "Monthly recurring revenue" in html
    assert "98.00 EUR" in html  # two team seats at €49
    assert "active" in html


def test_a_users_page_shows_their_subscription_and_invoices(operator_client, subscribe, user):
    subscribe("pro")

    page = operator_client.get(f"/admin/accounts/user/{user.pk}/change/")

    html = page.content.decode()
    assert "pro x 1, active" in html
    assert "15.00 EUR paid" in html


def test_resync_fixes_a_customer_whose_tier_drifted(operator_client, subscribe, user):
    subscribe("pro")
    User.objects.filter(pk=user.pk).update(tier="free")
    customer = Customer.objects.get(subscriber=user)

    answer = operator_client.post(
        "/admin/djstripe/customer/",
        {"action": "resync", "_selected_action": [customer.djstripe_id]},
        follow=True,
    )

    assert answer.status_code == 200
    user.refresh_from_db()
    assert user.tier == "pro"
    assert Subscription.objects.filter(customer=customer).exists()


def test_without_billing_the_console_leaves_stripes_objects_out(operator_client):
    index = operator_client.get("/admin/").content.decode()

    assert "/admin/djstripe/" not in index
    assert "/admin/billing/dailyusage/" in index
    assert operator_client.get("/admin/djstripe/").status_code == 404


def test_with_billing_stripes_objects_are_listed_read_only(operator_client, subscribe, user):
    subscribe("pro")
    customer = Customer.objects.get(subscriber=user)

    index = operator_client.get("/admin/").content.decode()
    charges = operator_client.get("/admin/djstripe/charge/")
    customer_page = operator_client.get(f"/admin/djstripe/customer/{customer.pk}/change/")

    assert "/admin/djstripe/charge/" in index and "/admin/djstripe/invoice/" in index
    assert not re.search(r"/admin/djstripe/\w+/add/", index)
    assert (
        charges.status_code == 200 and "/admin/djstripe/charge/add/" not in charges.content.decode()
    )
    assert operator_client.get("/admin/djstripe/charge/add/").status_code == 403
    assert customer_page.status_code == 200 and 'name="_save"' not in customer_page.content.decode()
