"""What a plugin submission must be, as pure functions: the manifest's JSON schema, version
order, and the package archive's checks. Each answers field-level errors (``{field: [why]}``)
and never touches the database or the storage."""

import re
import stat
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import IO, Any

from jsonschema import Draft202012Validator
from packaging.version import InvalidVersion, Version

from core.parsers import JSONInputError, json_loads

# The file every package carries at its root; it must equal the manifest submitted beside it.
MANIFEST_NAME = "engram-plugin.json"
CATEGORIES = ("memory", "chat", "import-export", "integrations", "productivity", "developer")
PERMISSIONS = ("memories:read", "memories:write", "chat", "storage")
# network:<host> lets a plugin reach one host: a DNS name, no scheme, port or wildcard.
NETWORK_PERMISSION = r"^network:(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
SEMVER = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
PART = r"[a-z0-9](?:[a-z0-9-]{0,37}[a-z0-9])?"
NAMESPACE = rf"^{PART}$"
# Namespaces no publisher may claim: a plugin under them would pass for the project's own or the
# operators'. The admin can still give one to a publisher.
RESERVED_NAMESPACES = frozenset(
    {"admin", "builtin", "core", "engram", "marketplace", "official", "security", "staff", "system"}
)


def namespace_reserved(namespace: str) -> bool:
    return namespace in RESERVED_NAMESPACES or namespace.startswith("engram-")


PLUGIN_ID = rf"^{PART}\.{PART}$"
# Text only: control characters (NUL and the like) are how binary data shows in JSON strings,
# and a lone surrogate (a "\ud800" escape) is no character at all (PostgreSQL refuses it).
TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]*$"
MAX_PRICE_CENTS = 100_000
# Stripe charges nothing smaller than 0.50 EUR: a paid plugin costs at least this.
MIN_PRICE_CENTS = 50


def _text(max_length: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_length, "pattern": TEXT}


MANIFEST_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Engram plugin manifest",
    "type": "object",
    "additionalProperties": False,
    "required": [
        "id",
        "name",
        "description",
        "version",
        "author",
        "category",
        "permissions",
        "price_cents",
        "min_engram_version",
    ],
    "properties": {
        "id": {"type": "string", "pattern": PLUGIN_ID, "maxLength": 79},
        "name": _text(80),
        "description": _text(2000),
        "version": {"type": "string", "pattern": SEMVER, "maxLength": 64},
        "author": _text(120),
        "category": {"enum": list(CATEGORIES)},
        "permissions": {
            "type": "array",
            "maxItems": 32,
            "uniqueItems": True,
            "items": {
                "anyOf": [
                    {"enum": list(PERMISSIONS)},
                    {"type": "string", "pattern": NETWORK_PERMISSION},
                ]
            },
        },
        "price_cents": {
            "type": "integer",
            "maximum": MAX_PRICE_CENTS,
            "anyOf": [{"const": 0}, {"minimum": MIN_PRICE_CENTS}],
        },
        "min_engram_version": {"type": "string", "pattern": SEMVER, "maxLength": 64},
        "homepage": {
            "type": "string",
            "pattern": r"^https?://[^\s\x00-\x1f\ud800-\udfff]+$",
            "maxLength": 300,
        },
    },
}
_VALIDATOR = Draft202012Validator(MANIFEST_SCHEMA)


def _where(path: Any) -> str:
    parts = [f"[{part}]" if isinstance(part, int) else f".{part}" for part in path]
    return "manifest" + "".join(parts)


def _message(error: Any) -> str:
    if error.validator == "anyOf" and error.path and error.path[0] == "permissions":
        allowed = ", ".join(PERMISSIONS)
        return f"Unknown permission {error.instance!r}: use one of {allowed} or network:<host>."
    if error.validator == "anyOf" and error.path and error.path[0] == "price_cents":
        return f"0 (free), or from {MIN_PRICE_CENTS} to {MAX_PRICE_CENTS} cents."
    if error.validator == "pattern" and error.schema.get("pattern") == TEXT:
        return "Text only: control characters (binary data) are not allowed."
    if error.validator == "pattern" and error.schema.get("pattern") == SEMVER:
        return f"{error.instance!r} is not a semantic version (MAJOR.MINOR.PATCH)."
    if error.validator == "enum":
        return f"Choose one of: {', '.join(map(str, error.validator_value))}."
    return error.message


def manifest_errors(manifest: Any) -> dict[str, list[str]]:
    """Field errors of ``manifest`` against MANIFEST_SCHEMA (``manifest.permissions[1]``: why);
    empty when it is valid."""
    errors: dict[str, list[str]] = {}
    for error in sorted(_VALIDATOR.iter_errors(manifest), key=lambda e: list(map(str, e.path))):
        errors.setdefault(_where(error.absolute_path), []).append(_message(error))
    return errors


def version_key(version: str) -> Version:
    """The order of semantic versions (pre-releases before their release; build metadata is
    ignored, as semver says). ``version`` must have passed the schema."""
    try:
        return Version(version.split("+", 1)[0])
    except InvalidVersion:
        # Semver pre-release names packaging does not read (1.0.0-x.7.z) order as the release.
        return Version(version.split("-", 1)[0].split("+", 1)[0])


def version_is_newer(version: str, than: str | None) -> bool:
    return than is None or version_key(version) > version_key(than)


@dataclass
class ArchiveReport:
    """What the archive checks found: ``errors`` refuse the package; ``checks`` go to the
    reviewer either way."""

    errors: dict[str, list[str]] = field(default_factory=dict)
    checks: list[dict[str, Any]] = field(default_factory=list)

    def record(self, name: str, problem: str | None) -> None:
        self.checks.append({"check": name, "passed": problem is None, "detail": problem or ""})
        if problem:
            self.errors.setdefault("package", []).append(problem)


def _escaping(name: str) -> bool:
    path = PurePosixPath(name.replace("\\", "/"))
    return (
        path.is_absolute()
        or ".." in path.parts
        or re.match(r"^[a-zA-Z]:", name) is not None
        # zipfile and many extractors cut a name at its first NUL: "evil.py\0.txt" is evil.py.
        or re.search(r"[\x00-\x1f\x7f]", name) is not None
    )


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _names(names: list[str]) -> str:
    return ", ".join(map(repr, names[:5]))


def _normalised(name: str) -> str:
    """The file an extractor writes for ``name`` on a case-insensitive, Unicode-normalising
    disk: two entries with the same normalised name are one file written twice."""
    name = unicodedata.normalize("NFC", name.replace("\\", "/"))
    return "/".join(part for part in name.split("/") if part not in ("", ".")).casefold()


def _duplicates(entries: list[zipfile.ZipInfo]) -> list[str]:
    seen: dict[str, str] = {}
    found = []
    for info in entries:
        key = _normalised(info.orig_filename)
        if key in seen:
            found.append(info.orig_filename)
        seen.setdefault(key, info.orig_filename)
    return sorted(found)


# A local file header (APPNOTE 4.3.7): signature, version, flags, method, time, date, crc-32,
# compressed size, uncompressed size, name length, extra field length.
LOCAL_HEADER = struct.Struct("<4s5H3L2H")
LOCAL_SIGNATURE = b"PK\x03\x04"
UTF8_NAME = 0x800
ENCRYPTED = 0x1
SIZES_AFTER_DATA = 0x8  # sizes in a data descriptor; the local header's are zero
ZIP64_SIZE = 0xFFFFFFFF
UNPACK_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
UNPACK_CHUNK_BYTES = 64 * 1024


class _Refused(Exception):
    """A problem with one entry that stops the reading of the archive."""


class _OverLimit(_Refused):
    """The entries unpacked so far passed the limit."""


def _local_header(package: IO[bytes], info: zipfile.ZipInfo) -> int:
    """Where ``info``'s data starts, once its local header says what its central entry says.

    Extractors differ in which of the two they read (a streaming one sees only the local
    headers), so an entry whose two headers disagree could be checked as one file and
    unpacked as another."""
    package.seek(info.header_offset)
    raw = package.read(LOCAL_HEADER.size)
    if len(raw) != LOCAL_HEADER.size or raw[:4] != LOCAL_SIGNATURE:
        raise _Refused(f"{info.orig_filename!r} has no local header.")
    _, _, flags, method, _, _, crc, packed, unpacked, name_length, extra_length = (
        LOCAL_HEADER.unpack(raw)
    )
    raw_name = package.read(name_length)
    name = raw_name.decode("utf-8" if flags & UTF8_NAME else "cp437", errors="replace")
    if name != info.orig_filename or (flags ^ info.flag_bits) & UTF8_NAME:
        raise _Refused(
            f"The entry listed as {info.orig_filename!r} is named {name!r} in its local header."
        )
    if method != info.compress_type:
        raise _Refused(f"{info.orig_filename!r} has two compression methods.")
    sizes_here = not flags & SIZES_AFTER_DATA and ZIP64_SIZE not in (packed, unpacked)
    if sizes_here and (crc, packed, unpacked) != (info.CRC, info.compress_size, info.file_size):
        raise _Refused(f"{info.orig_filename!r} declares other sizes in its local header.")
    return info.header_offset + LOCAL_HEADER.size + name_length + extra_length


def _packed_chunks(package: IO[bytes], info: zipfile.ZipInfo) -> Iterator[bytes]:
    left = info.compress_size
    while left:
        chunk = package.read(min(UNPACK_CHUNK_BYTES, left))
        if not chunk:
            raise _Refused(f"{info.orig_filename!r} is cut short.")
        left -= len(chunk)
        yield chunk


def _inflated(packed: Iterator[bytes], info: zipfile.ZipInfo) -> Iterator[bytes]:
    """The deflated stream ``packed`` unpacked, at most UNPACK_CHUNK_BYTES at a time (a bomb is
    never held in memory whole); it must end exactly where the entry's data ends."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    for chunk in packed:
        while True:
            out = inflater.decompress(chunk, UNPACK_CHUNK_BYTES)
            yield out
            chunk = inflater.unconsumed_tail
            if not chunk and (len(out) < UNPACK_CHUNK_BYTES or inflater.eof):
                break
    if not inflater.eof or inflater.unused_data:
        raise _Refused(f"{info.orig_filename!r} declares a size its data does not have.")


def _unpacked_bytes(package: IO[bytes], info: zipfile.ZipInfo, budget: int) -> int:
    """The bytes ``info`` really unpacks to, counted while unpacking it (what it declares is
    not trusted); raises _OverLimit as soon as they pass ``budget``."""
    if info.flag_bits & ENCRYPTED:
        raise _Refused(f"{info.orig_filename!r} is encrypted.")
    if info.compress_type not in UNPACK_METHODS:
        raise _Refused(f"{info.orig_filename!r} is compressed with method {info.compress_type}: "
                       "deflate it, or store it uncompressed.")  # fmt: skip
    package.seek(_local_header(package, info))
    unpacked = _packed_chunks(package, info)
    if info.compress_type == zipfile.ZIP_DEFLATED:
        unpacked = _inflated(unpacked, info)
    produced, crc = 0, 0
    for chunk in unpacked:
        produced += len(chunk)
        if produced > budget:
            raise _OverLimit
        crc = zlib.crc32(chunk, crc)
    if (produced, crc) != (info.file_size, info.CRC):
        raise _Refused(f"{info.orig_filename!r} declares a size its data does not have.")
    return produced


def _entries_problem(
    package: IO[bytes], entries: list[zipfile.ZipInfo], max_bytes: int
) -> str | None:
    total = 0
    try:
        for info in entries:
            total += _unpacked_bytes(package, info, max_bytes - total)
    except _OverLimit:
        return f"Unpacks to more than {max_bytes} bytes, the limit."
    except _Refused as refused:
        return str(refused)
    except OSError:
        return "The package could not be read."
    return None


def archive_report(
    package: IO[bytes], *, manifest: dict[str, Any], max_bytes: int
) -> ArchiveReport:
    """Check a package: a zip archive, every entry a regular file or folder inside it (no
    absolute paths, no ``..``, no symlinks, no two of the same name, its local header naming
    what the central directory names), at most ``max_bytes`` unpacked (counted by unpacking,
    not read from the headers), and ``engram-plugin.json`` at its root equal to ``manifest``."""
    report = ArchiveReport()
    try:
        archive = zipfile.ZipFile(package)
        entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        report.record("archive", "The package is not a zip archive.")
        return report
    report.record("archive", None)
    escaping = sorted(info.orig_filename for info in entries if _escaping(info.orig_filename))
    report.record(
        "paths",
        f"Paths outside the package or with control characters: {_names(escaping)}."
        if escaping
        else None,
    )
    duplicates = _duplicates(entries)
    report.record(
        "duplicates",
        f"Entries appear twice: {_names(duplicates)}." if duplicates else None,
    )
    links = sorted(info.filename for info in entries if _is_symlink(info))
    report.record(
        "symlinks", f"Symlinks are not allowed: {', '.join(links[:5])}." if links else None
    )
    # Every entry read as an extractor would: its local header, then its data, unpacked.
    report.record("entries", _entries_problem(package, entries, max_bytes))
    report.record("manifest", _inner_manifest_problem(archive, manifest, max_bytes))
    return report


def _inner_manifest_problem(
    archive: zipfile.ZipFile, manifest: dict[str, Any], max_bytes: int
) -> str | None:
    try:
        info = archive.getinfo(MANIFEST_NAME)
    except KeyError:
        return f"The package has no {MANIFEST_NAME} at its root."
    if info.file_size > max_bytes:
        return f"{MANIFEST_NAME} is too large."
    try:
        inner = json_loads(archive.read(info))
    except (JSONInputError, zipfile.BadZipFile, OSError, RuntimeError):
        return f"{MANIFEST_NAME} in the package is not valid JSON."
    if inner != manifest:
        return f"{MANIFEST_NAME} in the package differs from the submitted manifest."
    return None
