"""A secret rotation of vectors: the server can search them but never sees the model's space.

The rotation is an orthogonal matrix drawn (Haar-uniformly: QR of a Gaussian matrix, signs
fixed) from a generator seeded by a subkey of the user key, one per dimension. Orthogonal maps
keep every inner product and norm, so cosine similarity between rotated vectors equals that
between the originals (to floating-point rounding), and nearest-neighbour search on the server
finds the same neighbours; without the key, the coordinates do not line up with any known
embedding model's. Queries must be rotated with the same key.
"""

import numpy as np

from engram_client.crypto import UserKey


class VectorRotation:
    def __init__(self, key: UserKey) -> None:
        self._key = key
        self._matrices: dict[int, np.ndarray] = {}

    def matrix(self, dimensions: int) -> np.ndarray:
        if dimensions not in self._matrices:
            seed = self._key.subkey(f"engram vector rotation v1 {dimensions}")
            rng = np.random.Generator(np.random.PCG64(int.from_bytes(seed, "big")))
            q, r = np.linalg.qr(rng.standard_normal((dimensions, dimensions)))
            self._matrices[dimensions] = q * np.sign(np.diag(r))
        return self._matrices[dimensions]

    def rotate(self, vector) -> list[float]:
        v = np.asarray(vector, dtype=np.float64)
        return (self.matrix(v.shape[0]) @ v).tolist()

    def unrotate(self, vector) -> list[float]:
        v = np.asarray(vector, dtype=np.float64)
        return (self.matrix(v.shape[0]).T @ v).tolist()
