"""Publish -> automated checks -> staff approval -> listed -> install -> signed download ->
rating, and who may not do what along the way."""

import hashlib
import io
import json
import time
from urllib.parse import urlsplit

import pytest
from django.core import signing
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from marketplace.manifest import MANIFEST_NAME
from marketplace.models import PluginVersion, ReviewDecision
from marketplace.packages import DOWNLOAD_SALT
from marketplace.tests.conftest import (
    MARKETPLACE,
    PLUGINS,
    RawEntry,
    manifest_of,
    package_of,
    raw_zip,
    submit,
)

DEEP = "[" * 1000 + "]" * 1000

pytestmark = pytest.mark.django_db


class _SignedAnHourAgo(signing.TimestampSigner):
    def timestamp(self) -> str:
        return signing.b62_encode(int(time.time()) - 3600)


def _download(url: str):
    return APIClient().get(urlsplit(url).path)


def test_publish_review_list_install_download_and_rate(
    publisher_client, staff_client, power_client, power_user
):
    # given a submitted package
    package = package_of(manifest_of())
    answer = submit(publisher_client, manifest_of(), package)
    assert answer.status_code == 201, answer.content
    submitted = answer.json()
    assert submitted["status"] == "pending_review"
    assert submitted["package_sha256"] == hashlib.sha256(package).hexdigest()
    assert {check["check"] for check in submitted["checks"]} >= {
        "manifest_schema", "permissions", "package_size", "archive", "paths", "symlinks",
        "manifest", "sha256",
    }  # fmt: skip
    assert all(check["passed"] for check in submitted["checks"])
    # pending: neither listed nor installable
    assert power_client.get(PLUGINS).json()["total"] == 0
    assert power_client.get(f"{PLUGINS}/acme.notes").status_code == 404
    assert power_client.post(f"{PLUGINS}/acme.notes/install").status_code == 404

    # when staff see it in the queue and approve it
    queue = staff_client.get(f"{MARKETPLACE}/reviews").json()["results"]
    assert [item["id"] for item in queue] == [submitted["id"]]
    decided = staff_client.post(
        f"{MARKETPLACE}/reviews/{submitted['id']}", {"decision": "approved"}, format="json"
    )
    assert decided.status_code == 200, decided.content
    assert ReviewDecision.objects.get(version_id=submitted["id"]).decision == "approved"

    # then it is listed, with its permissions
    listed = power_client.get(PLUGINS, {"q": "meeting notes", "category": "memory"}).json()
    assert listed["total"] == 1
    assert listed["results"][0]["id"] == "acme.notes"
    detail = power_client.get(f"{PLUGINS}/acme.notes").json()
    assert detail["permissions"] == manifest_of()["permissions"]
    assert [v["version"] for v in detail["versions"]] == ["1.0.0"]

    # a power user installs it and downloads the package through the signed URL
    installed = power_client.post(f"{PLUGINS}/acme.notes/install", {}, format="json")
    assert installed.status_code == 200, installed.content
    body = installed.json()
    assert body["ok"] is True and body["payment"] is None
    download = _download(body["download_url"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == package
    assert power_client.get(f"{PLUGINS}/installed").json()["results"][0]["plugin"]["id"] == (
        "acme.notes"
    )
    assert power_client.get(f"{PLUGINS}/acme.notes").json()["install_count"] == 1

    # a tampered or expired URL is refused
    path = urlsplit(body["download_url"]).path
    token = path.rstrip("/").rsplit("/", 1)[1]
    tampered = path.replace(token, token[:-1] + ("A" if token[-1] != "A" else "B"))
    refused = APIClient().get(tampered)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "PERMISSION_DENIED"
    version_id = PluginVersion.objects.get(version="1.0.0").pk
    old = _SignedAnHourAgo(salt=DOWNLOAD_SALT).sign_object(
        {"v": str(version_id), "u": str(power_user.pk)}
    )
    expired = APIClient().get(f"{MARKETPLACE}/packages/{old}")
    assert expired.status_code == 403
    assert expired.json()["error"]["details"] == {"token": ["Expired."]}

    # and rates it, then changes the rating
    rated = power_client.put(f"{PLUGINS}/acme.notes/rating", {"stars": 4}, format="json")
    assert rated.status_code == 200, rated.content
    power_client.put(f"{PLUGINS}/acme.notes/rating", {"stars": 2, "text": "meh"}, format="json")
    detail = power_client.get(f"{PLUGINS}/acme.notes").json()
    assert (detail["rating_average"], detail["rating_count"]) == (2.0, 1)

    # after uninstalling, the old link no longer serves the package
    assert power_client.delete(f"{PLUGINS}/acme.notes/install").status_code == 204
    assert _download(body["download_url"]).status_code == 403
    assert power_client.get(f"{PLUGINS}/acme.notes").json()["install_count"] == 0


def test_a_free_user_browses_but_cannot_install(publish, free_client):
    publish(manifest_of())
    assert free_client.get(PLUGINS).json()["total"] == 1
    assert free_client.get(f"{PLUGINS}/acme.notes").status_code == 200
    answer = free_client.post(f"{PLUGINS}/acme.notes/install", {}, format="json")
    assert answer.status_code == 403
    error = answer.json()["error"]
    assert error["code"] == "QUOTA_EXCEEDED"
    assert error["details"]["tier"] == "free"
    assert error["details"]["allowed_tiers"] == ["power", "team"]
    assert "free tier" in error["message"]


def test_only_installers_rate(publish, power_client):
    publish(manifest_of())
    answer = power_client.put(f"{PLUGINS}/acme.notes/rating", {"stars": 5}, format="json")
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "PERMISSION_DENIED"
    bad = power_client.put(f"{PLUGINS}/acme.notes/rating", {"stars": 6}, format="json")
    assert bad.status_code == 400 and "stars" in bad.json()["error"]["details"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"permissions": ["memories:read", "filesystem"]}, "manifest.permissions[1]"),
        ({"category": "games"}, "manifest.category"),
        ({"version": "1.0"}, "manifest.version"),
        ({"description": "PK\x03\x04\x00\x00binary"}, "manifest.description"),
        # A lone surrogate (JSON's "\ud800") was a 500: PostgreSQL refuses it in JSON.
        ({"name": "\ud800"}, "manifest.name"),
        ({"homepage": "https://example.com/\udc00"}, "manifest.homepage"),
        ({"price_cents": -1}, "manifest.price_cents"),
        ({"price_cents": 49}, "manifest.price_cents"),
    ],
)
def test_a_bad_manifest_is_refused_with_field_errors(publisher_client, change, field):
    answer = submit(publisher_client, manifest_of(**change), package_of(manifest_of()))
    assert answer.status_code == 400, answer.content
    assert field in answer.json()["error"]["details"]
    assert not PluginVersion.objects.exists()


def test_a_manifest_nested_deeper_than_json_may_be_is_refused(publisher_client):
    upload = io.BytesIO(package_of(manifest_of()))
    upload.name = "plugin.zip"

    answer = publisher_client.post(
        PLUGINS, {"manifest": '{"id": ' + DEEP + "}", "package": upload}, format="multipart"
    )

    assert answer.status_code == 400, answer.content
    assert answer.json()["error"]["code"] == "VALIDATION_ERROR"
    assert "manifest" in answer.json()["error"]["details"]
    assert not PluginVersion.objects.exists()


def test_a_version_not_greater_than_the_last_is_refused(publisher_client, publish):
    publish(manifest_of(version="1.2.0"))
    for version in ("1.2.0", "1.1.9", "1.2.0-beta.1"):
        answer = submit(publisher_client, manifest_of(version=version))
        assert answer.status_code == 400, answer.content
        assert answer.json()["error"]["details"] == {
            "manifest.version": ["Must be greater than 1.2.0."]
        }
    assert submit(publisher_client, manifest_of(version="1.10.0")).status_code == 201


@pytest.mark.parametrize(
    "package",
    [
        package_of(manifest_of(), files={"../../etc/evil.py": b"x"}),
        package_of(manifest_of(), files={"/abs/evil.py": b"x"}),
        package_of(manifest_of(), symlinks={"plugin/link": "../../../etc/passwd"}),
        package_of(None),
        package_of(manifest_of(version="9.9.9")),
        b"not a zip at all",
        package_of(None, files={MANIFEST_NAME: DEEP.encode()}),
    ],
    ids=["dotdot", "absolute", "symlink", "no-manifest", "other-manifest", "not-zip", "deep"],
)
def test_a_bad_package_is_refused(publisher_client, plugin_blobs, package):
    answer = submit(publisher_client, manifest_of(), package)
    assert answer.status_code == 400, answer.content
    assert "package" in answer.json()["error"]["details"]
    assert not PluginVersion.objects.exists()
    assert not plugin_blobs.exists() or not any(plugin_blobs.rglob("*.zip"))


def test_a_package_over_the_size_limit_is_refused(publisher_client, settings):
    settings.MARKETPLACE_PACKAGE_MAX_BYTES = 100
    answer = submit(publisher_client, manifest_of())
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_a_package_unpacking_past_the_limit_is_refused_whatever_it_declares(
    publisher_client, settings
):
    settings.MARKETPLACE_PACKAGE_MAX_UNPACKED_BYTES = 10_000
    manifest = manifest_of()
    entries = [RawEntry(f"plugin/{n}.bin", bytes(100_000), declared=1_000) for n in range(4)]
    package = raw_zip([RawEntry(MANIFEST_NAME, json.dumps(manifest).encode()), *entries])

    answer = submit(publisher_client, manifest, package)

    assert answer.status_code == 400, answer.content
    assert answer.json()["error"]["details"]["package"] == [
        "Unpacks to more than 10000 bytes, the limit."
    ]
    assert not PluginVersion.objects.exists()


def test_publishers_stay_in_their_own_namespace(publish, publisher_client, other_client):
    publish(manifest_of())
    # another publisher cannot submit (edit) a version of acme's plugin
    assert (
        other_client.post(
            f"{MARKETPLACE}/publisher", {"namespace": "rival"}, format="json"
        ).status_code
        == 201
    )
    answer = submit(other_client, manifest_of(version="2.0.0"))
    assert answer.status_code == 403
    assert "manifest.id" in answer.json()["error"]["details"]
    # nor see acme's pending version
    assert submit(publisher_client, manifest_of(version="1.1.0")).status_code == 201
    assert other_client.get(f"{MARKETPLACE}/submissions").json()["results"] == []
    assert [v["version"] for v in other_client.get(f"{PLUGINS}/acme.notes").json()["versions"]] == [
        "1.0.0"
    ]
    mine = publisher_client.get(f"{MARKETPLACE}/submissions").json()["results"]
    assert [v["version"] for v in mine] == ["1.1.0", "1.0.0"]
    # nor use the review queue without being staff
    assert other_client.get(f"{MARKETPLACE}/reviews").status_code == 404
    pending = PluginVersion.objects.get(version="1.1.0")
    refused = other_client.post(
        f"{MARKETPLACE}/reviews/{pending.pk}", {"decision": "approved"}, format="json"
    )
    assert refused.status_code == 404
    # a namespace is taken once
    taken = other_client.post(f"{MARKETPLACE}/publisher", {"namespace": "acme"}, format="json")
    assert taken.status_code == 409


@pytest.mark.parametrize("namespace", ["engram", "official", "engram-labs"])
def test_a_namespace_that_would_pass_for_the_projects_own_is_reserved(other_client, namespace):
    claimed = other_client.post(f"{MARKETPLACE}/publisher", {"namespace": namespace}, format="json")

    assert claimed.status_code == 409, claimed.content
    assert claimed.json()["error"]["details"]["namespace"] == ["Reserved: choose another."]


def test_staff_cannot_review_their_own_plugin(publisher_user, publisher_client):
    publisher_user.is_staff = True
    publisher_user.save(update_fields=["is_staff"])
    version = submit(publisher_client, manifest_of()).json()
    answer = publisher_client.post(
        f"{MARKETPLACE}/reviews/{version['id']}", {"decision": "approved"}, format="json"
    )
    assert answer.status_code == 403
    assert PluginVersion.objects.get().status == "pending_review"


def test_a_rejection_needs_a_reason_and_is_shown_to_the_publisher(publisher_client, staff_client):
    version = submit(publisher_client, manifest_of()).json()
    url = f"{MARKETPLACE}/reviews/{version['id']}"
    assert staff_client.post(url, {"decision": "rejected"}, format="json").status_code == 400
    reason = "Asks for network access it does not explain."
    answer = staff_client.post(url, {"decision": "rejected", "notes": reason}, format="json")
    assert answer.status_code == 200
    again = staff_client.post(url, {"decision": "approved"}, format="json")
    assert again.status_code == 409
    mine = publisher_client.get(f"{MARKETPLACE}/submissions").json()["results"][0]
    assert (mine["status"], mine["review_notes"]) == ("rejected", reason)
    assert staff_client.get(PLUGINS).json()["total"] == 0


def test_approval_refuses_a_package_changed_in_storage(
    publisher_client, staff_client, plugin_blobs
):
    version = submit(publisher_client, manifest_of()).json()
    stored = next(plugin_blobs.rglob("*.zip"))
    stored.write_bytes(b"swapped")
    answer = staff_client.post(
        f"{MARKETPLACE}/reviews/{version['id']}", {"decision": "approved"}, format="json"
    )
    assert answer.status_code == 409
    assert "package_sha256" in answer.json()["error"]["details"]


def test_catalog_sorts_and_pages(publish, power_client):
    for name, description in (("alpha", "First"), ("beta", "Second"), ("gamma", "Third")):
        publish(manifest_of(f"acme.{name}", name=name.title(), description=description))
    first = power_client.get(PLUGINS, {"sort": "newest", "limit": 2}).json()
    assert first["total"] == 3 and first["has_more"]
    rest = power_client.get(
        PLUGINS, {"sort": "newest", "limit": 2, "cursor": first["next_cursor"]}
    ).json()
    names = [p["id"] for p in first["results"] + rest["results"]]
    assert names == ["acme.gamma", "acme.beta", "acme.alpha"]
    power_client.post(f"{PLUGINS}/acme.alpha/install", {}, format="json")
    by_installs = power_client.get(PLUGINS, {"sort": "installs"}).json()["results"]
    assert by_installs[0]["id"] == "acme.alpha"
    bad = power_client.get(PLUGINS, {"sort": "rating", "cursor": first["next_cursor"]})
    assert bad.status_code == 400 and "cursor" in bad.json()["error"]["details"]


def _queries(call) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert call().status_code == 200
    return len(captured)


def test_lists_cost_a_fixed_number_of_queries(publish, power_client):
    def lists() -> tuple[int, int]:
        return (
            _queries(lambda: power_client.get(PLUGINS, {"q": "notes"})),
            _queries(lambda: power_client.get(f"{PLUGINS}/installed")),
        )

    publish(manifest_of("acme.one"))
    power_client.post(f"{PLUGINS}/acme.one/install", {}, format="json")
    one = lists()
    for name in ("two", "three", "four"):
        publish(manifest_of(f"acme.{name}"))
        power_client.post(f"{PLUGINS}/acme.{name}/install", {}, format="json")
    assert power_client.get(PLUGINS, {"q": "notes"}).json()["total"] == 4
    assert lists() == one


def test_a_plugin_needing_a_newer_engram_is_not_installed(publish, power_client):
    publish(manifest_of(min_engram_version="99.0.0"))
    answer = power_client.post(f"{PLUGINS}/acme.notes/install", {}, format="json")
    assert answer.status_code == 409
    assert answer.json()["error"]["details"] == {"min_engram_version": ["99.0.0"]}


@pytest.mark.parametrize(("decision", "status"), [("approve", "approved"), ("reject", "rejected")])
def test_a_review_takes_approve_or_reject_as_well(publisher_client, staff_client, decision, status):
    version = submit(publisher_client, manifest_of()).json()

    answer = staff_client.post(
        f"{MARKETPLACE}/reviews/{version['id']}",
        {"decision": decision, "notes": "Checked by hand."},
        format="json",
    )

    assert answer.status_code == 200, answer.content
    assert answer.json()["status"] == status
    assert ReviewDecision.objects.get(version_id=version["id"]).decision == status


def test_the_openapi_document_lists_every_review_decision(client):
    schema = client.get("/api/schema/?format=json").json()

    schemas = schema["components"]["schemas"]
    [ref] = schemas["ReviewInputRequest"]["properties"]["decision"]["allOf"]
    decision = schemas[ref["$ref"].rsplit("/", 1)[1]]
    assert set(decision["enum"]) == {"approve", "approved", "reject", "rejected"}
