"""Secrets at rest: AES-256-GCM under a key ring, so keys can be rotated.

A ciphertext is ``<key id>:<base64(nonce + ciphertext + tag)>``. The first key of the ring
encrypts; any key of the ring decrypts, so old ciphertexts keep working until
`manage.py rotate_encryption_key` has moved them to the newest key. Each ciphertext is bound to
its owner and purpose (associated data), so it cannot be copied onto another row.
"""

import base64
import binascii
import os
from dataclasses import dataclass
from functools import cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

NONCE_BYTES = 12


class DecryptionFailed(Exception):
    """The ciphertext is unknown to the key ring, or was tampered with or moved."""


@dataclass(frozen=True)
class KeyRing:
    keys: dict[str, bytes]  # key id -> 32-byte key, in order: the first one encrypts

    @property
    def primary_id(self) -> str:
        return next(iter(self.keys))


def parse_key_ring(spec: str) -> KeyRing:
    """Parse ``ENCRYPTION_KEYS``: comma-separated ``<id>:<base64 of 32 bytes>``, newest first."""
    keys: dict[str, bytes] = {}
    for entry in filter(None, (part.strip() for part in spec.split(","))):
        key_id, sep, encoded = entry.partition(":")
        try:
            key = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            key = b""
        if not sep or not key_id or len(key) != 32:
            raise ImproperlyConfigured(
                "ENCRYPTION_KEYS entries must be '<id>:<base64 of 32 random bytes>'."
            )
        keys[key_id] = key
    if not keys:
        raise ImproperlyConfigured("ENCRYPTION_KEYS is empty.")
    return KeyRing(keys)


def _development_key_ring() -> KeyRing:
    # Development only (settings refuse to start production without ENCRYPTION_KEYS).
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"engram-secrets").derive(
        settings.SECRET_KEY.encode()
    )
    return KeyRing({"dev": derived})


@cache
def key_ring() -> KeyRing:
    spec = settings.ENCRYPTION_KEYS
    return parse_key_ring(spec) if spec else _development_key_ring()


def encrypt(plaintext: str, *, context: str) -> str:
    ring = key_ring()
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(ring.keys[ring.primary_id]).encrypt(nonce, plaintext.encode(), context.encode())
    return f"{ring.primary_id}:{base64.b64encode(nonce + sealed).decode()}"


def decrypt(token: str, *, context: str) -> str:
    key_id, _, encoded = token.partition(":")
    key = key_ring().keys.get(key_id)
    if key is None:
        raise DecryptionFailed(f"No key '{key_id}' in the key ring.")
    try:
        raw = base64.b64decode(encoded)
        return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode()).decode()
    except (InvalidTag, binascii.Error, ValueError) as exc:
        raise DecryptionFailed("The ciphertext does not decrypt under its key.") from exc


def key_id_of(token: str) -> str:
    return token.partition(":")[0]
