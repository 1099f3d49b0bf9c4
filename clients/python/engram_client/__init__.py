"""Engram's end-to-end-encrypted storage, client side: encryption, vector rotation, transfers."""

from engram_client.client import EngramStorage, RemoteRecord, ResumableBackup, StorageError
from engram_client.crypto import UserKey, decrypt_bytes, encrypt_bytes, encrypt_file, sha256_file
from engram_client.rotation import VectorRotation

__all__ = [
    "EngramStorage",
    "RemoteRecord",
    "ResumableBackup",
    "StorageError",
    "UserKey",
    "VectorRotation",
    "decrypt_bytes",
    "encrypt_bytes",
    "encrypt_file",
    "sha256_file",
]
