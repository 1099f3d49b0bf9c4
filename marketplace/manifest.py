"""What a plugin submission must be, as pure functions: the manifest's JSON schema, version
order, and the package archive's checks. Each answers field-level errors (``{field: [why]}``)
and never touches the database or the storage."""

import re
import stat
import zipfile
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
PLUGIN_ID = rf"^{PART}\.{PART}$"
# Text only: control characters (NUL and the like) are how binary data shows in JSON strings.
TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
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
        "homepage": {"type": "string", "pattern": r"^https?://[^\s\x00-\x1f]+$", "maxLength": 300},
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
    return path.is_absolute() or ".." in path.parts or re.match(r"^[a-zA-Z]:", name) is not None


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def archive_report(
    package: IO[bytes], *, manifest: dict[str, Any], max_bytes: int
) -> ArchiveReport:
    """Check a package: a zip archive, every entry a regular file or folder inside it (no
    absolute paths, no ``..``, no symlinks), at most ``max_bytes`` unpacked, and
    ``engram-plugin.json`` at its root equal to ``manifest``."""
    report = ArchiveReport()
    try:
        archive = zipfile.ZipFile(package)
        entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        report.record("archive", "The package is not a zip archive.")
        return report
    report.record("archive", None)
    escaping = sorted(info.filename for info in entries if _escaping(info.filename))
    report.record(
        "paths", f"Paths escape the package: {', '.join(escaping[:5])}." if escaping else None
    )
    links = sorted(info.filename for info in entries if _is_symlink(info))
    report.record(
        "symlinks", f"Symlinks are not allowed: {', '.join(links[:5])}." if links else None
    )
    unpacked = sum(info.file_size for info in entries)
    report.record(
        "unpacked_size",
        f"Unpacks to {unpacked} bytes, over the limit of {max_bytes}."
        if unpacked > max_bytes
        else None,
    )
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
