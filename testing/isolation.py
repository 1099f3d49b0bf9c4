"""CP-3, reusable: another user's objects must be invisible, not forbidden."""

from collections.abc import Iterable

from rest_framework.test import APIClient


def assert_invisible_to(client: APIClient, requests: Iterable[tuple[str, str]]) -> None:
    """Each ``(method, url)`` of someone else's object answers ``client`` with a 404 NOT_FOUND.

    A 403 would confirm that the object exists; a 2xx would leak or change it.
    """
    for method, url in requests:
        response = getattr(client, method.lower())(url, data={}, format="json")
        assert response.status_code == 404, f"{method} {url} -> {response.status_code}"
        assert response.json()["error"]["code"] == "NOT_FOUND", f"{method} {url}"
