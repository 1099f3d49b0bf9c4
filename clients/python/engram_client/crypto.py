"""Encryption on the device: AES-256-GCM in chunks, under a key only the user holds.

Format of every blob (records, vector payloads, backups):

    header  = b"EGM1" | chunk size (4 bytes, big-endian) | nonce prefix (7 random bytes)
    chunk i = AES-256-GCM(content key, nonce = prefix | i (4 bytes) | last (1 byte),
                          plaintext chunk, associated data = header)

Each chunk of up to ``chunk size`` plaintext bytes is sealed on its own, so files of any size
are encrypted and decrypted in constant memory; the counter and the last-chunk flag in the
nonce make reordered, dropped or truncated chunks fail to decrypt. The content key is derived
(HKDF-SHA256) from the user key, which is either given raw (32 bytes) or derived from a
passphrase with scrypt.
"""

import hashlib
import os
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

MAGIC = b"EGM1"
HEADER = struct.Struct(">4sI7s")
TAG_BYTES = 16
CHUNK_BYTES = 1024 * 1024
# scrypt cost: ~64 MiB and ~0.2 s per derivation on a laptop.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**16, 8, 1


class DecryptionError(Exception):
    """The bytes were not made with this key, or were changed."""


class UserKey:
    """The user's secret: never sent anywhere. Subkeys for content and vector rotation."""

    def __init__(self, raw: bytes) -> None:
        if len(raw) != 32:
            raise ValueError("A raw user key has 32 bytes.")
        self._raw = raw

    @classmethod
    def from_passphrase(cls, passphrase: str, *, salt: bytes) -> "UserKey":
        """scrypt of the passphrase; the salt (at least 8 bytes, e.g. the account's email)
        must be the same on every device."""
        if len(salt) < 8:
            raise ValueError("Use a salt of at least 8 bytes.")
        kdf = Scrypt(salt=salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
        return cls(kdf.derive(passphrase.encode("utf-8")))

    @classmethod
    def generate(cls) -> "UserKey":
        return cls(os.urandom(32))

    def subkey(self, purpose: str) -> bytes:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode())
        return hkdf.derive(self._raw)

    def __repr__(self) -> str:
        return "UserKey(…)"


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", index, 1 if last else 0)


def encrypt_chunks(
    key: UserKey, chunks: Iterable[bytes], *, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[bytes]:
    """Ciphertext of the plaintext ``chunks`` (any sizes; re-cut to ``chunk_bytes``)."""
    aead = AESGCM(key.subkey("engram content v1"))
    header = HEADER.pack(MAGIC, chunk_bytes, os.urandom(7))
    prefix = header[-7:]
    yield header
    buffer = bytearray()
    index = 0
    source = iter(chunks)
    exhausted = False
    while True:
        while not exhausted and len(buffer) <= chunk_bytes:
            piece = next(source, None)
            if piece is None:
                exhausted = True
            else:
                buffer += piece
        last = exhausted and len(buffer) <= chunk_bytes
        plain = bytes(buffer[:chunk_bytes])
        del buffer[:chunk_bytes]
        yield aead.encrypt(_nonce(prefix, index, last), plain, header)
        index += 1
        if last:
            return


def decrypt_chunks(key: UserKey, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Plaintext of ciphertext ``chunks``; DecryptionError if anything was altered or cut."""
    aead = AESGCM(key.subkey("engram content v1"))
    buffer = bytearray()
    source = iter(chunks)
    exhausted = False

    def fill(size: int) -> None:
        nonlocal exhausted
        while not exhausted and len(buffer) < size:
            piece = next(source, None)
            if piece is None:
                exhausted = True
            else:
                buffer.extend(piece)

    fill(HEADER.size)
    if len(buffer) < HEADER.size:
        raise DecryptionError("Too short to be an Engram blob.")
    header = bytes(buffer[: HEADER.size])
    del buffer[: HEADER.size]
    magic, chunk_bytes, prefix = HEADER.unpack(header)
    if magic != MAGIC or not 0 < chunk_bytes <= 64 * CHUNK_BYTES:
        raise DecryptionError("Not an Engram blob.")
    sealed = chunk_bytes + TAG_BYTES
    index = 0
    while True:
        # One byte more than a whole chunk tells whether this chunk is the last.
        fill(sealed + 1)
        last = len(buffer) <= sealed
        block = bytes(buffer[:sealed])
        del buffer[:sealed]
        try:
            yield aead.decrypt(_nonce(prefix, index, last), block, header)
        except Exception as exc:  # cryptography's InvalidTag, or a block too short
            raise DecryptionError(
                "The blob was altered, cut short, or made with another key."
            ) from exc
        index += 1
        if last:
            return


def encrypt_bytes(key: UserKey, plaintext: bytes) -> bytes:
    return b"".join(encrypt_chunks(key, [plaintext]))


def decrypt_bytes(key: UserKey, blob: bytes) -> bytes:
    return b"".join(decrypt_chunks(key, [blob]))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_chunks(path: Path, size: int = CHUNK_BYTES) -> Iterator[bytes]:
    with path.open("rb") as source:
        while chunk := source.read(size):
            yield chunk


def encrypt_file(key: UserKey, source: Path, target: Path) -> tuple[str, int]:
    """Encrypt ``source`` into ``target``; returns the ciphertext's SHA-256 (hex) and size."""
    digest = hashlib.sha256()
    size = 0
    with Path(target).open("wb") as out:
        for block in encrypt_chunks(key, _file_chunks(Path(source))):
            digest.update(block)
            size += len(block)
            out.write(block)
    return digest.hexdigest(), size


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    for chunk in _file_chunks(Path(path)):
        digest.update(chunk)
    return digest.hexdigest()
