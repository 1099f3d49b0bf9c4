"""A deterministic lexical embedder: feature hashing of words. Fast and dependency-free, for
tests only; it knows spelling, not meaning."""

import hashlib
import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from providers.embeddings.base import Embedder, l2_normalise

_WORD = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder(Embedder):
    def __init__(self, *, dimensions: int) -> None:
        self.dimensions = dimensions
        self.name = f"hashing-v1@{dimensions}"

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dimensions, dtype=np.float32)
        for word, count in Counter(w.lower() for w in _WORD.findall(text)).items():
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "little") % self.dimensions
            sign = 1.0 if digest[4] & 1 else -1.0
            vector[bucket] += sign * (1.0 + math.log(count))
        if not vector.any():
            vector[0] = 1.0  # no words at all: still a valid, comparable vector
        return vector

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        return l2_normalise(np.stack([self._vector(text) for text in texts]))
