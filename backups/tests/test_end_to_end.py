"""The reference client against a live server, on the filesystem and on S3 (moto, local):
what a device stores comes back intact, and the server only ever holds ciphertext."""

import base64
import hashlib
import http.client
import os
import socket
import time
from urllib.parse import urlsplit

import numpy as np
import pytest
from django.db import connection
from engram_client import EngramStorage, ResumableBackup, StorageError, UserKey

from backups.models import Backup, BackupUpload, EncryptedRecord
from backups.tests.conftest import STALL_SECONDS, make_user, stored_blobs, token_for
from billing.tiers import GB

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.heavy(65)]
MARKER = b"plaintext-marker-that-must-never-reach-the-server"


@pytest.fixture
def key() -> UserKey:
    return UserKey.generate()


@pytest.fixture
def alice_user():
    return make_user()


@pytest.fixture
def alice(same_storage, alice_user, key) -> EngramStorage:
    return EngramStorage(same_storage.url, token=token_for(alice_user), key=key)


def raw_request(url: str, head: str, body: bytes = b"", *, hang_up: bool = False):
    """Send a request by hand: ``head`` (request line and headers), then ``body``. With
    ``hang_up`` the connection is closed right after (a torn upload); otherwise the answer is
    read as soon as the server gives one."""
    host, port = urlsplit(url).hostname, urlsplit(url).port
    with socket.create_connection((host, port), timeout=30) as sock:
        line, _, headers = head.partition("\n")
        head = f"{line}\nHost: {host}:{port}\n{headers}"
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        if hang_up:
            return None
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.read()


def backup_put_head(token: str, framing: str) -> str:
    """The head of a raw ``PUT /backup`` whose body is framed by ``framing`` (a Content-Length
    or Transfer-Encoding header) and whose checksum nothing will match."""
    return (
        f"PUT /api/v1/backup HTTP/1.1\nAuthorization: Bearer {token}\n"
        "Content-Type: application/octet-stream\nX-Backup-Version: 1\nX-Backup-Timestamp: 1\n"
        f"X-Backup-Checksum: {'0' * 64}\n{framing}\n"
    )


def wait_until(condition, what: str) -> None:
    """Work a server finishes after its answer (or after a client hung up) is awaited, never
    timed: the deadline only keeps a broken server from hanging the suite."""
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_records_round_trip(alice):
    created = alice.record_create("notes", b"first note " + MARKER)
    alice.record_create("tasks", b"a task")

    assert alice.record_get(created["id"]).plaintext == b"first note " + MARKER
    assert [r["table"] for r in alice.records()] == ["tasks", "notes"]
    assert [r["id"] for r in alice.records(table="notes")] == [created["id"]]
    assert "blob" not in created and created["size"] > len(b"first note ")

    alice.record_replace(created["id"], b"second version")
    assert alice.record_get(created["id"]).plaintext == b"second version"
    alice.record_delete(created["id"])
    alice.record_delete(created["id"])  # idempotent
    with pytest.raises(StorageError) as gone:
        alice.record_get(created["id"])
    assert gone.value.status == 404
    wait_until(lambda: len(stored_blobs()) == 1, "the replaced and deleted bytes are removed")


def test_a_stale_write_is_a_412_not_a_silent_overwrite(alice):
    record = alice.record_create("notes", b"v1")
    seen = alice.record_get(record["id"]).etag
    alice.record_replace(record["id"], b"v2 from another device", if_match=seen)

    with pytest.raises(StorageError) as stale:
        alice.record_replace(record["id"], b"v2 from this device", if_match=seen)

    assert stale.value.status == 412 and stale.value.code == "PRECONDITION_FAILED"
    assert alice.record_get(record["id"]).plaintext == b"v2 from another device"


def test_a_checksum_mismatch_stores_nothing(alice, same_storage):
    blob = b"EGM1 not really ciphertext"
    status, body = raw_request(
        same_storage.url,
        f"POST /api/v1/storage/records?table=notes HTTP/1.1\n"
        f"Authorization: Bearer {alice._token}\nContent-Type: application/octet-stream\n"
        f"X-Checksum: {hashlib.sha256(b'something else').hexdigest()}\n"
        f"Content-Length: {len(blob)}\n",
        blob,
    )
    assert status == 400 and b"CHECKSUM_MISMATCH" in body
    vector = {
        "id": "v1",
        "vector": [1.0, 0.0],
        "blob": base64.b64encode(b"x").decode(),
        "checksum": hashlib.sha256(b"y").hexdigest(),
    }
    with pytest.raises(StorageError) as refused:
        alice._call("POST", "/storage/vectors", json_body={"vectors": [vector]})
    assert refused.value.code == "CHECKSUM_MISMATCH"
    assert EncryptedRecord.objects.count() == 0
    assert stored_blobs() == {}


def test_vectors_round_trip_search_and_delete(alice, key):
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((40, 24))
    alice.vectors_upsert(
        [(f"doc-{i}", v, f"payload {i} ".encode() + MARKER) for i, v in enumerate(vectors)],
        table="docs",
    )
    hits = alice.vectors_search(vectors[3], top_k=3)
    assert hits[0][0] == "doc-3" and hits[0][1] == pytest.approx(1.0, abs=1e-5)
    assert hits[0][2] == b"payload 3 " + MARKER
    assert len(hits) == 3 and hits[0][1] >= hits[1][1] >= hits[2][1]
    assert alice.vectors_search(vectors[3], top_k=3, table="other") == []

    alice.vectors_upsert([("doc-3", vectors[5], b"moved")], table="docs")
    assert [h[0] for h in alice.vectors_search(vectors[5], top_k=2)] == ["doc-3", "doc-5"]
    assert alice.vectors_delete(["doc-3", "doc-3", "unknown"]) == 1
    assert "doc-3" not in [h[0] for h in alice.vectors_search(vectors[5], top_k=5)]
    with pytest.raises(StorageError) as wrong:
        alice.vectors_search([1.0] * 25)
    assert wrong.value.status == 400


# Search happens in PostgreSQL whatever holds the payloads: one backend is enough.
@pytest.mark.parametrize("stack", ["filesystem"], indirect=True)
def test_recall_on_rotated_vectors_equals_recall_on_plain_vectors(same_storage):
    rng = np.random.default_rng(11)
    corpus, queries = rng.standard_normal((300, 48)), rng.standard_normal((15, 48))
    unit = corpus / np.linalg.norm(corpus, axis=1, keepdims=True)
    truth = [set(np.argsort(-(unit @ q))[:10]) for q in queries]
    recalls = {}
    for rotate in (False, True):
        store = EngramStorage(
            same_storage.url, token=token_for(make_user()), key=UserKey.generate()
        )
        items = [(str(i), v, b"") for i, v in enumerate(corpus)]
        store.vectors_upsert(items, rotate=rotate)
        found = [
            {int(hit[0]) for hit in store.vectors_search(q, top_k=10, rotate=rotate)}
            for q in queries
        ]
        recalls[rotate] = sum(len(f & t) for f, t in zip(found, truth, strict=True)) / 150
    assert recalls[True] == recalls[False] == 1.0


def test_backup_round_trip_history_and_conditional_gets(alice, tmp_path):
    source = tmp_path / "local.db"
    source.write_bytes(MARKER + os.urandom(3 * 1024 * 1024))
    first = alice.backup_upload(source, version=3)
    source.write_bytes(MARKER + os.urandom(1024))
    latest = alice.backup_upload(source, version=4)

    target = tmp_path / "restored.db"
    headers = alice.backup_download(target)
    assert target.read_bytes() == source.read_bytes()
    assert headers["x-backup-version"] == "4" and headers["etag"] == f'"{latest["checksum"]}"'
    assert alice.backup_download(target, if_none_match=headers["etag"]) is None
    assert alice.backup_download(target, if_modified_since=headers["last-modified"]) is None
    assert alice.backup_download(target, if_none_match='"other"') is not None

    assert [b["id"] for b in alice.backup_history()] == [latest["id"], first["id"]]
    alice.backup_download(target, backup_id=first["id"])
    assert target.read_bytes().startswith(MARKER) and target.stat().st_size > 3 * 1024 * 1024
    alice.backup_delete(first["id"])
    assert [b["id"] for b in alice.backup_history()] == [latest["id"]]


def test_an_interrupted_backup_resumes_where_it_stopped(alice, same_storage, tmp_path, key):
    source = tmp_path / "big.db"
    source.write_bytes(os.urandom(20 * 1024 * 1024))  # three parts of 8 MiB
    state = tmp_path / "upload-state"
    upload = alice.backup_upload_resumable(source, version=1, state_dir=state)
    assert upload.send(max_parts=1) == 2
    # The second part is cut off half-way: the server keeps nothing of it.
    part = (state / "backup.enc").read_bytes()[8 * 1024 * 1024 : 16 * 1024 * 1024]
    raw_request(
        same_storage.url,
        f"PUT /api/v1/backup/uploads/{upload.upload_id}/parts/2 HTTP/1.1\n"
        f"Authorization: Bearer {alice._token}\nContent-Type: application/octet-stream\n"
        f"X-Part-Checksum: {hashlib.sha256(part).hexdigest()}\nContent-Length: {len(part)}\n",
        part[: len(part) // 2],
        hang_up=True,
    )

    # Another process, later: the same state folder, a new client.
    later = EngramStorage(same_storage.url, token=alice._token, key=key)
    resumed = ResumableBackup.open(later, source, version=1, state_dir=state)
    assert resumed.parts_received() == [1]
    assert resumed.send() == 0
    backup = resumed.complete()

    restored = tmp_path / "restored.db"
    later.backup_download(restored, backup_id=backup["id"])
    assert restored.read_bytes() == source.read_bytes()
    assert not (state / "backup.enc").exists()
    assert BackupUpload.objects.count() == 0


def test_a_torn_upload_leaves_nothing_behind(alice, same_storage):
    body = os.urandom(20 * 1024 * 1024)
    raw_request(
        same_storage.url,
        backup_put_head(alice._token, f"Content-Length: {2 * len(body)}"),
        body,
        hang_up=True,
    )
    wait_until(lambda: stored_blobs() == {}, "the torn upload's bytes are removed")
    assert Backup.objects.count() == 0
    assert alice.backup_history() == []


def test_a_stalled_upload_is_dropped_and_answered_408(alice, same_storage):
    """Headers and part of the body, then silence with the connection open: after the idle
    timeout the server drops the upload (past one S3 part, so a multipart upload was open) and
    tells the client, which is still listening."""
    body = os.urandom(9 * 1024 * 1024)
    status, answer = raw_request(
        same_storage.url,
        backup_put_head(alice._token, f"Content-Length: {2 * len(body)}"),
        body,
    )
    assert status == 408 and b"REQUEST_TIMEOUT" in answer
    assert f'"idle_seconds":{STALL_SECONDS}'.encode() in answer.replace(b" ", b"")
    wait_until(lambda: stored_blobs() == {}, "the stalled upload's bytes are removed")
    assert Backup.objects.count() == 0


def test_over_quota_is_refused_before_the_body_is_read(alice, same_storage):
    """No body is sent at all: the answer can only come from Content-Length."""
    status, body = raw_request(
        same_storage.url,
        backup_put_head(alice._token, f"Content-Length: {6 * GB}"),
    )
    assert status == 403 and b"QUOTA_EXCEEDED" in body
    assert f'"limit_bytes":{5 * GB}'.encode() in body.replace(b" ", b"")
    assert f'"requested_bytes":{6 * GB}'.encode() in body.replace(b" ", b"")


def test_over_quota_while_streaming_stops_and_stores_nothing(alice, alice_user, same_storage):
    """A chunked body declares no length: the quota stops it half-way."""
    Backup.objects.create(
        user=alice_user,
        version=0,
        client_timestamp=0,
        size=5 * GB - 1024 * 1024,
        checksum="0" * 64,
        blob_key=f"{alice_user.pk}/backups/accounted-elsewhere",
    )
    chunk = os.urandom(512 * 1024)
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(4)) + b"0\r\n\r\n"
    status, body = raw_request(
        same_storage.url,
        backup_put_head(alice._token, "Transfer-Encoding: chunked"),
        chunked,
    )
    assert status == 403 and b"QUOTA_EXCEEDED" in body
    assert Backup.objects.count() == 1
    wait_until(lambda: stored_blobs() == {}, "nothing of the refused upload is kept")


def test_another_users_objects_are_404_and_never_in_search(alice, same_storage, tmp_path):
    record = alice.record_create("notes", b"mine")
    alice.vectors_upsert([("secret-doc", [1.0, 0.0, 0.0], b"mine")])
    source = tmp_path / "b.db"
    source.write_bytes(b"mine")
    backup = alice.backup_upload(source, version=1)
    mallory = EngramStorage(same_storage.url, token=token_for(make_user()), key=UserKey.generate())
    mallory.vectors_upsert([("own", [0.0, 1.0, 0.0], b"hers")])

    for path in (
        f"/storage/records/{record['id']}",
        "/storage/vectors/items/secret-doc",
        f"/backup/{backup['id']}",
    ):
        with pytest.raises(StorageError) as hidden:
            mallory._call("GET", path)
        assert hidden.value.status == 404, path
    assert [h[0] for h in mallory.vectors_search([1.0, 0.0, 0.0], top_k=10)] == ["own"]
    with pytest.raises(StorageError) as hidden:
        mallory._call("DELETE", f"/backup/{backup['id']}")
    assert hidden.value.status == 404
    mallory.record_delete(record["id"])
    assert alice.record_get(record["id"]).plaintext == b"mine"


def test_the_server_never_holds_plaintext(alice, tmp_path):
    alice.record_create("notes", MARKER)
    alice.vectors_upsert([("v", [0.5, 0.5], MARKER)])
    source = tmp_path / "local.db"
    source.write_bytes(MARKER * 1000)
    alice.backup_upload(source, version=1)
    upload = alice.backup_upload_resumable(source, version=2, state_dir=tmp_path / "state")
    upload.send()
    upload.complete()

    blobs = stored_blobs()
    assert len(blobs) == 4
    assert [key for key, data in blobs.items() if MARKER in data] == []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
            "AND table_type = 'BASE TABLE'"
        )
        tables = [name for (name,) in cursor.fetchall()]
        hits = []
        for table in tables:
            cursor.execute(
                f'SELECT count(*) FROM "{table}" t WHERE row_to_json(t)::text LIKE %s',
                [f"%{MARKER.decode()}%"],
            )
            if cursor.fetchone()[0]:
                hits.append(table)
    assert hits == []
