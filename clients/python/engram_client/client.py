"""Talks to Engram's storage API; only ciphertext and rotated vectors ever leave the device.

Plain ``http.client`` so that bodies of any size stream from and to disk.
"""

import base64
import hashlib
import http.client
import json
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlencode, urlsplit

from engram_client.crypto import (
    UserKey,
    decrypt_chunks,
    encrypt_bytes,
    encrypt_file,
    sha256_hex,
)
from engram_client.rotation import VectorRotation

OCTETS = "application/octet-stream"
IO_BYTES = 1024 * 1024


class StorageError(Exception):
    """An error answer of the server, in Engram's error shape."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        try:
            error = json.loads(body)["error"]
        except (ValueError, KeyError, TypeError):
            error = {"code": "", "message": body[:200].decode("utf-8", "replace"), "details": {}}
        self.code = error.get("code", "")
        self.details = error.get("details", {})
        super().__init__(f"{status} {self.code}: {error.get('message', '')}")


class IntegrityError(Exception):
    """Bytes received do not match the checksum the server recorded for them."""


@dataclass(frozen=True)
class RemoteRecord:
    id: str
    plaintext: bytes
    etag: str


class EngramStorage:
    def __init__(self, base_url: str, *, token: str, key: UserKey, timeout: float = 300) -> None:
        parts = urlsplit(base_url)
        self._https = parts.scheme == "https"
        self._host = parts.netloc
        self._prefix = parts.path.rstrip("/") + "/api/v1"
        self._token = token
        self._timeout = timeout
        self.key = key
        self.rotation = VectorRotation(key)

    # --- HTTP --------------------------------------------------------------------------------

    def _connection(self) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        return kind(self._host, timeout=self._timeout, blocksize=IO_BYTES)

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: bytes | BinaryIO | None = None,
        length: int | None = None,
        headers: dict[str, str] | None = None,
        json_body: Any = None,
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        sent = {"Authorization": f"Bearer {self._token}", **(headers or {})}
        if json_body is not None:
            body = json.dumps(json_body).encode()
            sent["Content-Type"] = "application/json"
        if body is not None:
            sent["Content-Length"] = str(len(body) if isinstance(body, bytes) else length)
        connection = self._connection()
        connection.request(method, self._prefix + path, body=body, headers=sent)
        return connection, connection.getresponse()

    def _call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any, dict[str, str]]:
        connection, response = self._send(method, path, **kwargs)
        try:
            data = response.read()
        finally:
            connection.close()
        if response.status >= 400:
            raise StorageError(response.status, data)
        headers = {k.lower(): v for k, v in response.getheaders()}
        if data and headers.get("content-type", "").startswith("application/json"):
            return response.status, json.loads(data), headers
        return response.status, data, headers

    # --- Records -------------------------------------------------------------------------------

    def record_create(self, table: str, plaintext: bytes) -> dict[str, Any]:
        blob = encrypt_bytes(self.key, plaintext)
        _, record, _ = self._call(
            "POST",
            f"/storage/records?{urlencode({'table': table})}",
            body=blob,
            headers={"Content-Type": OCTETS, "X-Checksum": sha256_hex(blob)},
        )
        return record

    def record_get(self, record_id: str) -> RemoteRecord:
        _, blob, headers = self._call("GET", f"/storage/records/{record_id}")
        if sha256_hex(blob) != headers.get("x-checksum"):
            raise IntegrityError(f"Record {record_id} does not match its checksum.")
        return RemoteRecord(id=record_id, plaintext=self._open(blob), etag=headers["etag"])

    def record_replace(
        self, record_id: str, plaintext: bytes, *, if_match: str | None = None
    ) -> dict[str, Any]:
        blob = encrypt_bytes(self.key, plaintext)
        headers = {"Content-Type": OCTETS, "X-Checksum": sha256_hex(blob)}
        if if_match is not None:
            headers["If-Match"] = if_match
        _, record, _ = self._call(
            "PUT", f"/storage/records/{record_id}", body=blob, headers=headers
        )
        return record

    def record_delete(self, record_id: str) -> None:
        self._call("DELETE", f"/storage/records/{record_id}")

    def records(self, *, table: str | None = None) -> Iterator[dict[str, Any]]:
        """Metadata of every record (of ``table``), newest first."""
        cursor = None
        while True:
            query = {"limit": 100, **({"table": table} if table else {})}
            if cursor:
                query["cursor"] = cursor
            _, page, _ = self._call("GET", f"/storage/records?{urlencode(query)}")
            yield from page["results"]
            cursor = page["next_cursor"]
            if not cursor:
                return

    # --- Vectors -------------------------------------------------------------------------------

    def vectors_upsert(
        self,
        items: Sequence[tuple[str, Sequence[float], bytes]],
        *,
        table: str = "",
        rotate: bool = True,
    ) -> list[dict[str, Any]]:
        """Store ``(id, vector, payload)`` items: payloads encrypted, vectors rotated (unless
        ``rotate`` is False: then the server sees the model's own coordinates)."""
        vectors = []
        for item_id, vector, payload in items:
            blob = encrypt_bytes(self.key, payload)
            vectors.append(
                {
                    "id": item_id,
                    "table": table,
                    "vector": self.rotation.rotate(vector) if rotate else list(map(float, vector)),
                    "blob": base64.b64encode(blob).decode(),
                    "checksum": sha256_hex(blob),
                }
            )
        _, answer, _ = self._call("POST", "/storage/vectors", json_body={"vectors": vectors})
        return answer["vectors"]

    def vectors_search(
        self, vector: Sequence[float], *, top_k: int = 10, table: str | None = None, rotate=True
    ) -> list[tuple[str, float, bytes]]:
        """``(id, cosine similarity, payload)`` of the nearest stored vectors."""
        sent = self.rotation.rotate(vector) if rotate else list(map(float, vector))
        query: dict[str, Any] = {"vector": sent, "top_k": top_k}
        if table:
            query["table"] = table
        _, answer, _ = self._call("POST", "/storage/vectors/search", json_body=query)
        return [
            (hit["id"], hit["score"], self._open(base64.b64decode(hit["blob"])))
            for hit in answer["results"]
        ]

    def _open(self, blob: bytes) -> bytes:
        return b"".join(decrypt_chunks(self.key, [blob]))

    def vectors_delete(self, ids: Sequence[str]) -> int:
        _, answer, _ = self._call("POST", "/storage/vectors/delete", json_body={"ids": list(ids)})
        return answer["deleted"]

    # --- Backups -------------------------------------------------------------------------------

    def backup_upload(self, source: Path, *, version: int, workdir: Path | None = None) -> dict:
        """Encrypt ``source`` (to a temporary file beside ``workdir``) and upload it in one
        streamed PUT."""
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            sealed = Path(tmp) / "backup.enc"
            checksum, size = encrypt_file(self.key, Path(source), sealed)
            with sealed.open("rb") as body:
                _, backup, _ = self._call(
                    "PUT",
                    "/backup",
                    body=body,
                    length=size,
                    headers={
                        "Content-Type": OCTETS,
                        "X-Backup-Version": str(version),
                        "X-Backup-Timestamp": str(int(time.time() * 1000)),
                        "X-Backup-Checksum": checksum,
                    },
                )
        return backup

    def backup_upload_resumable(self, source: Path, *, version: int, state_dir: Path):
        """Start (or, when ``state_dir`` holds one, pick up) a resumable upload of ``source``."""
        return ResumableBackup.open(self, Path(source), version=version, state_dir=Path(state_dir))

    def backup_download(
        self,
        target: Path,
        *,
        backup_id: str | None = None,
        if_none_match: str | None = None,
        if_modified_since: str | None = None,
        workdir: Path | None = None,
    ) -> dict[str, str] | None:
        """Download, verify and decrypt a backup (the latest by default) into ``target``.
        Returns its headers, or None when the server says it has not changed (304)."""
        headers = {}
        if if_none_match:
            headers["If-None-Match"] = if_none_match
        if if_modified_since:
            headers["If-Modified-Since"] = if_modified_since
        path = f"/backup/{backup_id}" if backup_id else "/backup"
        connection, response = self._send("GET", path, headers=headers)
        try:
            if response.status == 304:
                return None
            if response.status >= 400:
                raise StorageError(response.status, response.read())
            answer = {k.lower(): v for k, v in response.getheaders()}
            with tempfile.NamedTemporaryFile(dir=workdir) as sealed:
                digest = hashlib.sha256()
                while chunk := response.read(IO_BYTES):
                    digest.update(chunk)
                    sealed.write(chunk)
                if digest.hexdigest() != answer.get("x-checksum"):
                    raise IntegrityError("The backup does not match its checksum.")
                sealed.seek(0)
                with Path(target).open("wb") as out:
                    for plain in decrypt_chunks(self.key, iter(lambda: sealed.read(IO_BYTES), b"")):
                        out.write(plain)
            return answer
        finally:
            connection.close()

    def backup_history(self) -> list[dict[str, Any]]:
        _, page, _ = self._call("GET", "/backup/history?limit=100")
        return page["results"]

    def backup_delete(self, backup_id: str) -> None:
        self._call("DELETE", f"/backup/{backup_id}")


class ResumableBackup:
    """A backup upload that survives interruption: the ciphertext and the upload's id are kept
    in ``state_dir`` until the server has every part; a new process picks up where the last
    one stopped, sending only the parts the server does not have."""

    def __init__(self, client: EngramStorage, state_dir: Path, state: dict[str, Any]) -> None:
        self.client = client
        self.state_dir = state_dir
        self.state = state

    @classmethod
    def open(
        cls, client: EngramStorage, source: Path, *, version: int, state_dir: Path
    ) -> "ResumableBackup":
        state_file = state_dir / "upload.json"
        if state_file.exists():
            return cls(client, state_dir, json.loads(state_file.read_text()))
        state_dir.mkdir(parents=True, exist_ok=True)
        checksum, size = encrypt_file(client.key, source, state_dir / "backup.enc")
        _, upload, _ = client._call(
            "POST",
            "/backup/uploads",
            json_body={
                "version": version,
                "timestamp": int(time.time() * 1000),
                "size": size,
                "checksum": checksum,
            },
        )
        state = {
            "id": upload["id"],
            "part_size": upload["part_size"],
            "part_count": upload["part_count"],
            "size": size,
        }
        state_file.write_text(json.dumps(state))
        return cls(client, state_dir, state)

    @property
    def upload_id(self) -> str:
        return self.state["id"]

    def parts_received(self) -> list[int]:
        _, upload, _ = self.client._call("GET", f"/backup/uploads/{self.upload_id}")
        return upload["parts_received"]

    def send(self, *, max_parts: int | None = None) -> int:
        """Send the parts the server lacks (at most ``max_parts``); returns how many remain."""
        have = set(self.parts_received())
        missing = [n for n in range(1, self.state["part_count"] + 1) if n not in have]
        part_size = self.state["part_size"]
        with (self.state_dir / "backup.enc").open("rb") as sealed:
            for number in missing[:max_parts]:
                sealed.seek((number - 1) * part_size)
                data = sealed.read(part_size)
                self.client._call(
                    "PUT",
                    f"/backup/uploads/{self.upload_id}/parts/{number}",
                    body=data,
                    headers={"Content-Type": OCTETS, "X-Part-Checksum": sha256_hex(data)},
                )
        return len(missing) - len(missing[:max_parts])

    def complete(self) -> dict[str, Any]:
        _, backup, _ = self.client._call("POST", f"/backup/uploads/{self.upload_id}/complete")
        for name in ("backup.enc", "upload.json"):
            (self.state_dir / name).unlink(missing_ok=True)
        return backup
