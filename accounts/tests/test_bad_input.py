"""Bad registration and login input: a 400 or 413 with field details, and nothing created."""

import pytest

from accounts.models import User

pytestmark = pytest.mark.django_db
REGISTER = "/api/v1/auth/register"


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"email", "password"}),
        ({"email": "not-an-email", "password": "a-much-longer-passphrase-42"}, {"email"}),
        ({"email": "weak@example.com", "password": "123"}, {"password"}),
        ({"email": "weak@example.com", "password": "password"}, {"password"}),
        ({"email": "x@example.com", "password": ["a", "list"]}, {"password"}),
    ],
)
def test_bad_registrations_are_400_with_field_details(api_client, body, fields):
    response = api_client.post(REGISTER, body, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert fields <= set(error["details"])
    assert not User.objects.exists()


def test_an_email_is_registered_once_whatever_its_case(api_client, user):
    response = api_client.post(
        REGISTER,
        {"email": user.email.upper(), "password": "a-much-longer-passphrase-42"},
        format="json",
    )

    assert response.status_code == 400
    assert "email" in response.json()["error"]["details"]
    assert User.objects.count() == 1


def test_ten_megabytes_of_json_is_413(api_client):
    body = '{"email": "a@example.com", "password": "' + "x" * (10 * 1024 * 1024) + '"}'

    response = api_client.generic("POST", REGISTER, body, content_type="application/json")

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_a_json_array_body_is_a_400(api_client):
    response = api_client.post(REGISTER, [1, 2], format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
