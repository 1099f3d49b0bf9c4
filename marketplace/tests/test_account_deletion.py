"""An account deleted (deletion.services.account_delete), as the marketplace sees it: a
publisher is refused, a buyer's ratings and installations end, and a sale stays on the
publisher's books without its buyer."""

import pytest

from accounts.models import User
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from conftest import bearer_client
from core.errors import Conflict
from deletion.services import account_delete
from marketplace.models import Installation, LedgerEntry
from marketplace.tests.conftest import PLUGINS, manifest_of, payment_started

pytestmark = pytest.mark.django_db


def delete(user) -> None:
    account_delete(user=user, password=DEFAULT_PASSWORD, confirm_email=user.email)


def plugin(client, slug: str = "acme.notes") -> dict:
    return client.get(f"{PLUGINS}/{slug}").json()


def test_a_publisher_of_plugins_is_refused(publish, publisher_user):
    publish(manifest_of())

    with pytest.raises(Conflict) as refused:
        delete(publisher_user)

    assert refused.value.details == {"plugins": ["acme.notes"]}
    assert User.objects.filter(pk=publisher_user.pk).exists()


def test_a_buyers_rating_and_installation_end_and_the_sale_stays(
    connected,
    publish,
    power_client,
    power_user,
    fake_stripe,
    deliver,
):
    connected.finish()
    publish(manifest_of(price_cents=500))
    deliver()
    body = payment_started(fake_stripe, power_client, "acme.notes")
    fake_stripe.control(f"payment_intents/{body['payment']['payment_intent']}/succeed")
    deliver()
    other = UserFactory(tier=power_user.tier)
    other_client = bearer_client(other)
    body = payment_started(fake_stripe, other_client, "acme.notes")
    fake_stripe.control(f"payment_intents/{body['payment']['payment_intent']}/succeed")
    deliver()
    power_client.put(f"{PLUGINS}/acme.notes/rating", {"stars": 1}, format="json")
    other_client.put(f"{PLUGINS}/acme.notes/rating", {"stars": 5}, format="json")
    before = plugin(other_client)
    assert (before["install_count"], before["rating_count"], before["rating_average"]) == (
        2, 2, 3.0,
    )  # fmt: skip
    (sale,) = LedgerEntry.objects.filter(installation__user=power_user)

    delete(power_user)

    after = plugin(other_client)
    assert (after["install_count"], after["rating_count"], after["rating_average"]) == (
        1, 1, 5.0,
    )  # fmt: skip
    kept = Installation.objects.get(pk=sale.installation_id)
    assert (kept.user_id, kept.status) == (None, "uninstalled")
    assert LedgerEntry.objects.filter(installation=kept).count() == 1
