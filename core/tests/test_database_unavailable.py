"""When the database cannot serve a request (no pooled connection came free in time, or
PostgreSQL is away), the client gets a 503 it may retry, in the error shape, not a 500."""

import pytest
from django.db import OperationalError, connection

pytestmark = pytest.mark.django_db


def refuse(execute, sql, params, many, context):
    raise OperationalError("couldn't get a connection after 10.00 sec")


def test_a_database_outage_is_a_503_with_retry_after(auth_client):
    auth_client.raise_request_exception = False
    with connection.execute_wrapper(refuse):
        response = auth_client.get("/api/v1/threads")

    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
