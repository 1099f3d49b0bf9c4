"""What every embedder offers, and the errors it may raise (never a vendor's own)."""

import functools
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import numpy as np
from prometheus_client import Counter

EMBEDDED_TEXTS = Counter("engram_embedded_texts", "Texts embedded, by embedder.", ["embedder"])
EMBEDDING_SECONDS = Counter(
    "engram_embedding_seconds", "Time spent embedding, by embedder.", ["embedder"]
)

_WORDISH = re.compile(r"\w+|[^\w\s]", re.UNICODE)


class EmbeddingError(Exception):
    """An embedder could not turn the texts into vectors."""


class EmbeddingUnavailable(EmbeddingError):
    """A transient failure (network, timeout, rate limit, 5xx): the same call may work later."""


class EmbeddingRejected(EmbeddingError):
    """A permanent failure (bad configuration, refused input): retrying will not help."""


class Embedder(ABC):
    """Turns texts into L2-comparable vectors of ``dimensions`` floats.

    ``name`` identifies the vector space: vectors with different names are never compared.
    """

    name: str
    dimensions: int
    # Texts longer than this many tokens are truncated by the model; chunking keeps below it.
    max_tokens: int = 256

    def __init_subclass__(cls, **kwargs) -> None:
        # Every backend's ``embed`` is counted (throughput = texts / seconds), without each
        # backend having to remember to do it.
        super().__init_subclass__(**kwargs)
        if "embed" in cls.__dict__:
            cls.embed = _measured(cls.embed)

    @abstractmethod
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return a float32 array of shape (len(texts), dimensions), in the order given."""

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character spans of the tokens of ``text``, as the model would count them.

        The default approximates a subword tokenizer with words and punctuation marks; a backend
        with its own tokenizer overrides it.
        """
        return [match.span() for match in _WORDISH.finditer(text)]


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.clip(norms, 1e-12, None)).astype(np.float32)


def _measured(embed: Callable) -> Callable:
    @functools.wraps(embed)
    def measured(self: Embedder, texts: Sequence[str]) -> np.ndarray:
        started = time.perf_counter()
        vectors = embed(self, texts)
        EMBEDDING_SECONDS.labels(embedder=self.name).inc(time.perf_counter() - started)
        EMBEDDED_TEXTS.labels(embedder=self.name).inc(len(texts))
        return vectors

    return measured
