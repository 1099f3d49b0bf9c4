"""The reference client's cryptography: what it seals only its key opens, intact."""

import numpy as np
import pytest
from engram_client import UserKey, VectorRotation, decrypt_bytes, encrypt_bytes
from engram_client.crypto import CHUNK_BYTES, DecryptionError, decrypt_chunks, encrypt_chunks


def test_round_trip_of_empty_small_and_multi_chunk_data():
    key = UserKey.generate()
    for size in (0, 1, CHUNK_BYTES, CHUNK_BYTES + 1, 3 * CHUNK_BYTES - 7):
        data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
        assert decrypt_bytes(key, encrypt_bytes(key, data)) == data
        sealed = list(encrypt_chunks(key, [data[i : i + 1000] for i in range(0, size, 1000)]))
        assert b"".join(decrypt_chunks(key, sealed)) == data


def test_tampering_truncation_and_another_key_are_refused():
    key = UserKey.generate()
    sealed = encrypt_bytes(key, b"y" * (2 * CHUNK_BYTES + 10))
    flipped = bytearray(sealed)
    flipped[100] ^= 1
    whole_chunks = sealed[: 15 + 2 * (CHUNK_BYTES + 16)]  # the last chunk dropped
    for bad, bad_key in ((bytes(flipped), key), (whole_chunks, key), (sealed, UserKey.generate())):
        with pytest.raises(DecryptionError):
            decrypt_bytes(bad_key, bad)


def test_the_same_passphrase_and_salt_give_the_same_key():
    one = UserKey.from_passphrase("correct horse", salt=b"alice@example.com")
    two = UserKey.from_passphrase("correct horse", salt=b"alice@example.com")
    other = UserKey.from_passphrase("correct horse", salt=b"bob@example.com")
    sealed = encrypt_bytes(one, b"note")
    assert decrypt_bytes(two, sealed) == b"note"
    with pytest.raises(DecryptionError):
        decrypt_bytes(other, sealed)


def test_rotation_keeps_cosine_and_hides_coordinates():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal(384), rng.standard_normal(384)
    rotation = VectorRotation(UserKey.generate())
    ra, rb = np.array(rotation.rotate(a)), np.array(rotation.rotate(b))

    def cosine(x, y):
        return x @ y / np.linalg.norm(x) / np.linalg.norm(y)

    assert cosine(ra, rb) == pytest.approx(cosine(a, b), abs=1e-12)
    assert abs(cosine(ra, a)) < 0.2  # not the original direction
    assert np.allclose(rotation.unrotate(ra), a)
    assert VectorRotation(UserKey.generate()).rotate(a) != rotation.rotate(a)
