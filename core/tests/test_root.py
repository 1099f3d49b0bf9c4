"""`/` says what the server is: JSON for a client, a page of links for a browser."""

import pytest

pytestmark = pytest.mark.django_db


def test_a_client_is_told_what_the_server_is_and_where_its_doors_are(client):
    answer = client.get("/", HTTP_ACCEPT="application/json")

    assert answer.status_code == 200
    assert answer.json()["name"] == "Engram"
    assert answer.json()["links"]["api_docs"] == "/api/docs/"


def test_a_browser_gets_a_page_linking_to_the_docs_and_the_console(client):
    answer = client.get("/", HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")

    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/html")
    page = answer.content.decode()
    assert 'href="/api/docs/"' in page and 'href="/admin/"' in page


def test_curl_gets_json(client):
    assert client.get("/", HTTP_ACCEPT="*/*").json()["version"]
