"""The storage API in-process: validation, quota answers, conditional requests, isolation."""

import base64
import dataclasses
import hashlib

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from backups import blobstore
from backups.models import Backup, EncryptedRecord, EncryptedVector
from backups.tasks import storage_prune
from backups.tests.conftest import make_user, token_for
from billing.tiers import GB, TIERS, Tier
from testing.live import free_port
from testing.s3 import LocalS3

pytestmark = pytest.mark.django_db


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def pro(api_client, local_blobs):
    user = make_user()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user)}")
    api_client.user = user
    return api_client


def put_backup(client, data: bytes, version: int = 1, **headers):
    return client.generic(
        "PUT",
        "/api/v1/backup",
        data,
        content_type="application/octet-stream",
        HTTP_X_BACKUP_VERSION=str(version),
        HTTP_X_BACKUP_TIMESTAMP="1700000000000",
        HTTP_X_BACKUP_CHECKSUM=sha(data),
        **headers,
    )


def test_a_record_as_json_base64(pro):
    blob = b"\x00ciphertext\xff"
    answer = pro.post(
        "/api/v1/storage/records",
        {"table": "notes", "blob": base64.b64encode(blob).decode(), "checksum": sha(blob)},
        format="json",
    )
    assert answer.status_code == 201
    assert answer["ETag"] == f'"{sha(blob)}"' and answer.json()["size"] == len(blob)

    download = pro.get(f"/api/v1/storage/records/{answer.json()['id']}")
    assert b"".join(download.streaming_content) == blob
    assert download["X-Checksum"] == sha(blob)
    again = pro.get(
        f"/api/v1/storage/records/{answer.json()['id']}", HTTP_IF_NONE_MATCH=answer["ETag"]
    )
    assert again.status_code == 304


def test_bad_input_is_a_400_with_details(pro):
    bad = pro.post(
        "/api/v1/storage/records", {"table": "", "blob": "!!", "checksum": "x"}, format="json"
    )
    assert bad.status_code == 400
    # Every field the schema constrains is checked at once, the checksum among them.
    assert set(bad.json()["error"]["details"]) == {"table", "blob", "checksum"}
    short = pro.generic(
        "POST",
        "/api/v1/storage/records?table=t",
        b"abc",
        content_type="application/octet-stream",
        HTTP_X_CHECKSUM="nope",
    )
    assert short.status_code == 400 and "checksum" in short.json()["error"]["details"]
    huge = pro.post("/api/v1/storage/vectors/search", {"vector": [0.1] * 2001}, format="json")
    assert huge.status_code == 400


def test_vectors_keep_one_dimension_per_user(pro):
    def item(key, vector):
        return {
            "id": key,
            "vector": vector,
            "blob": base64.b64encode(b"p").decode(),
            "checksum": sha(b"p"),
        }

    assert (
        pro.post(
            "/api/v1/storage/vectors", {"vectors": [item("a", [1.0, 0.0])]}, format="json"
        ).status_code
        == 200
    )
    mixed = pro.post(
        "/api/v1/storage/vectors", {"vectors": [item("b", [1.0, 0.0, 0.0])]}, format="json"
    )
    assert mixed.status_code == 400 and "2 dimensions" in mixed.json()["error"]["message"]
    assert EncryptedVector.objects.count() == 1


def test_a_free_user_may_store_nothing(api_client, local_blobs):
    user = make_user(Tier.FREE)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user)}")

    answer = put_backup(api_client, b"sealed")

    assert answer.status_code == 403
    error = answer.json()["error"]
    assert error["code"] == "QUOTA_EXCEEDED"
    assert error["details"] == {
        "allowance": "backup_bytes",
        "limit_bytes": 0,
        "used_bytes": 0,
        "requested_bytes": 6,
    }
    assert not local_blobs.exists() or not any(local_blobs.rglob("*.*"))


def put_record(client, data: bytes):
    return client.post(
        "/api/v1/storage/records",
        {"table": "notes", "blob": base64.b64encode(data).decode(), "checksum": sha(data)},
        format="json",
    )


def upsert_vector(client, key: str, payload: bytes):
    item = {
        "id": key,
        "vector": [1.0, 0.0],
        "blob": base64.b64encode(payload).decode(),
        "checksum": sha(payload),
    }
    return client.post("/api/v1/storage/vectors", {"vectors": [item]}, format="json")


def test_usage_shows_the_bytes_stored_under_each_allowance(pro):
    assert put_record(pro, b"r" * 300).status_code == 201
    assert upsert_vector(pro, "v1", b"v" * 40).status_code == 200
    assert put_backup(pro, b"b" * 500).status_code == 201

    usage = pro.get("/api/v1/billing/usage").json()

    assert usage["cloud_storage_bytes"] == {"used": 340, "limit": 5 * GB}
    assert usage["backup_bytes"] == {"used": 500, "limit": 5 * GB}


@pytest.fixture
def small_allowances(monkeypatch):
    """Pro sells 5 GB of each; these tests fill a few bytes instead."""
    limits = dataclasses.replace(TIERS[Tier.PRO], cloud_storage_bytes=100, backup_bytes=60)
    monkeypatch.setitem(TIERS, Tier.PRO, limits)


def test_cloud_storage_is_refused_at_its_own_limit(pro, small_allowances):
    assert put_record(pro, b"r" * 60).status_code == 201
    assert upsert_vector(pro, "v1", b"v" * 40).status_code == 200

    record = put_record(pro, b"r")
    vector = upsert_vector(pro, "v2", b"v")

    for answer in (record, vector):
        assert answer.status_code == 403
        error = answer.json()["error"]
        assert error["code"] == "QUOTA_EXCEEDED"
        assert error["details"] == {
            "allowance": "cloud_storage_bytes",
            "limit_bytes": 100,
            "used_bytes": 100,
            "requested_bytes": 1,
        }
    # A full cloud storage leaves the backups' allowance whole.
    assert put_backup(pro, b"b" * 60).status_code == 201


def test_backups_are_refused_at_their_own_limit(pro, small_allowances):
    assert put_backup(pro, b"b" * 60).status_code == 201

    whole = put_backup(pro, b"b", version=2)
    resumable = pro.post(
        "/api/v1/backup/uploads",
        {"version": 3, "timestamp": 1, "size": 1, "checksum": sha(b"b")},
        format="json",
    )

    for answer in (whole, resumable):
        assert answer.status_code == 403
        assert answer.json()["error"]["details"] == {
            "allowance": "backup_bytes",
            "limit_bytes": 60,
            "used_bytes": 60,
            "requested_bytes": 1,
        }
    # A full backups allowance leaves cloud storage whole.
    assert put_record(pro, b"r" * 100).status_code == 201
    usage = pro.get("/api/v1/billing/usage").json()
    assert usage["cloud_storage_bytes"] == {"used": 100, "limit": 100}
    assert usage["backup_bytes"] == {"used": 60, "limit": 60}


def test_a_resumable_upload_needs_room_for_its_whole_size(pro):
    answer = pro.post(
        "/api/v1/backup/uploads",
        {"version": 1, "timestamp": 1, "size": 6 * GB, "checksum": sha(b"")},
        format="json",
    )
    assert answer.status_code == 403
    assert answer.json()["error"]["details"]["requested_bytes"] == 6 * GB


def test_a_resumable_upload_past_the_upload_size_limit_is_refused_on_any_plan(
    api_client, local_blobs, settings
):
    """As a whole backup past STORAGE_MAX_UPLOAD_BYTES is (by its Content-Length: a 413), also
    where the plan sets no storage limit; the schema states the limit."""
    settings.STORAGE_MAX_UPLOAD_BYTES = 1_000
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(make_user(Tier.SELF_HOSTED))}")

    answer = api_client.post(
        "/api/v1/backup/uploads",
        {"version": 1, "timestamp": 1, "size": 1_001, "checksum": sha(b"")},
        format="json",
    )

    assert answer.status_code == 400
    assert answer.json()["error"]["details"] == {
        "size": ["Ensure this value is less than or equal to 1000."]
    }
    schema = api_client.get("/api/schema/?format=json").json()
    upload = schema["components"]["schemas"]["BackupUploadInRequest"]
    assert upload["properties"]["size"]["maximum"] == 1_000


def test_conditional_gets_of_the_latest_backup(pro):
    assert pro.get("/api/v1/backup").status_code == 404
    put_backup(pro, b"first")
    created = put_backup(pro, b"second", version=2)
    assert created.status_code == 201

    latest = pro.get("/api/v1/backup")
    assert b"".join(latest.streaming_content) == b"second"
    assert latest["X-Backup-Version"] == "2"
    assert pro.get("/api/v1/backup", HTTP_IF_NONE_MATCH=latest["ETag"]).status_code == 304
    assert (
        pro.get("/api/v1/backup", HTTP_IF_MODIFIED_SINCE=latest["Last-Modified"]).status_code == 304
    )
    older = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert pro.get("/api/v1/backup", HTTP_IF_MODIFIED_SINCE=older).status_code == 200


def test_history_lists_metadata_in_a_fixed_number_of_queries(pro, django_assert_max_num_queries):
    for version in range(3):
        put_backup(pro, b"b%d" % version, version=version)
    with django_assert_max_num_queries(4):
        page = pro.get("/api/v1/backup/history?limit=2").json()
    assert [b["version"] for b in page["results"]] == [2, 1] and page["has_more"]
    assert "blob" not in page["results"][0]
    rest = pro.get(f"/api/v1/backup/history?cursor={page['next_cursor']}").json()
    assert [b["version"] for b in rest["results"]] == [0]


def test_retention_keeps_the_newest_backups(
    pro, settings, local_blobs, django_capture_on_commit_callbacks
):
    settings.BACKUP_KEEP = 2
    for version in range(4):
        put_backup(pro, b"backup %d" % version, version=version)
    other = make_user()
    Backup.objects.create(
        user=other,
        version=9,
        client_timestamp=0,
        size=1,
        checksum="0" * 64,
        blob_key=f"{other.pk}/backups/x",
    )
    dropped = list(
        Backup.objects.filter(user=pro.user, version__lt=2).values_list("blob_key", flat=True)
    )

    with django_capture_on_commit_callbacks(execute=True):
        storage_prune()
        storage_prune()  # twice: nothing more goes

    kept = Backup.objects.filter(user=pro.user).values_list("version", flat=True)
    assert sorted(kept) == [2, 3]
    assert Backup.objects.filter(user=other).count() == 1
    assert not any(blobstore.blob_exists(key=key) for key in dropped)


def test_deleting_a_user_deletes_their_blobs(pro, local_blobs, django_capture_on_commit_callbacks):
    put_backup(pro, b"sealed")
    keys = list(Backup.objects.values_list("blob_key", flat=True))
    assert blobstore.blob_exists(key=keys[0])

    with django_capture_on_commit_callbacks(execute=True):
        pro.user.delete()

    assert not blobstore.blob_exists(key=keys[0])
    assert not (local_blobs / str(pro.user.pk)).exists()


def test_verify_backups_reports_corrupt_and_missing_blobs(pro, local_blobs, capsys):
    for data in (b"intact", b"to corrupt", b"to lose"):
        pro.post(
            "/api/v1/storage/records",
            {"table": "t", "blob": base64.b64encode(data).decode(), "checksum": sha(data)},
            format="json",
        )
    records = {r.size: r for r in EncryptedRecord.objects.all()}
    (local_blobs / records[len(b"to corrupt")].blob_key).write_bytes(b"to c0rrupt")
    (local_blobs / records[len(b"to lose")].blob_key).unlink()

    with pytest.raises(CommandError):
        call_command("verify_backups")

    out = capsys.readouterr().out
    assert f"CORRUPT record {records[len(b'to corrupt')].blob_key}" in out
    assert f"MISSING record {records[len(b'to lose')].blob_key}" in out
    assert "3 blobs checked: 1 intact, 1 corrupt, 1 missing." in out


def test_the_admin_shows_counts_and_bytes_never_content(pro, admin_client):
    secret = b"sealed bytes the operator must not see"
    put_backup(pro, secret)

    page = admin_client.get("/admin/backups/storageaccount/")
    backups = admin_client.get("/admin/backups/backup/")

    assert page.status_code == 200 and backups.status_code == 200
    assert pro.user.email.encode() in page.content
    assert b'<td class="field-backups_bytes">%d</td>' % len(secret) in page.content
    assert secret not in page.content and secret not in backups.content


def test_a_failing_storage_is_a_503_and_nothing_is_recorded(pro, settings):
    nowhere = LocalS3(endpoint_url=f"http://127.0.0.1:{free_port()}", bucket="engram")
    settings.STORAGES = {**settings.STORAGES, "blobs": nowhere.storage_setting}

    answer = put_backup(pro, b"sealed")

    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert Backup.objects.count() == 0
