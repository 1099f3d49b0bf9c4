"""Ratings arriving at the same moment, each on its own database connection: the plugin's
sum, count and average stay exact (the aggregate is recomputed under a lock on its row)."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections
from django.utils import timezone

from accounts.tests.factories import UserFactory
from marketplace.models import Installation, InstallStatus, Plugin, Rating
from marketplace.services.installs import rating_set
from marketplace.tests.conftest import manifest_of

pytestmark = pytest.mark.django_db(transaction=True)
RATERS = 8
ROUNDS = 3


def test_concurrent_ratings_keep_the_average_exact(publish):
    publish(manifest_of())
    plugin = Plugin.objects.get(slug="acme.notes")
    raters = [UserFactory(tier="power") for _ in range(RATERS)]
    for user in raters:
        Installation.objects.create(
            user=user,
            plugin=plugin,
            version=plugin.latest_version,
            status=InstallStatus.ACTIVE,
            installed_at=timezone.now(),
        )

    for round_number in range(ROUNDS):
        start = threading.Barrier(RATERS)

        def rate(user, stars: int, start=start) -> None:
            try:
                start.wait()
                rating_set(user=user, slug="acme.notes", stars=stars)
            finally:
                connections.close_all()  # this thread's connection goes back to the pool

        with ThreadPoolExecutor(max_workers=RATERS) as pool:
            futures = [
                pool.submit(rate, user, 1 + (index + round_number) % 5)
                for index, user in enumerate(raters)
            ]
            for future in futures:
                future.result()

        plugin.refresh_from_db()
        stars = list(Rating.objects.filter(plugin=plugin).values_list("stars", flat=True))
        assert len(stars) == RATERS
        assert (plugin.rating_sum, plugin.rating_count) == (sum(stars), RATERS)
        assert plugin.rating_average == sum(stars) / RATERS
