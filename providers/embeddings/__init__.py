"""Text embeddings behind one interface; the backend is chosen by settings.

``get_embedder()`` returns the configured embedder, built once per process (loading the local
model costs about half a second), by the first of the threads that ask together (core.once).
"""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from core.once import built_once
from providers.embeddings.base import (
    Embedder,
    EmbeddingError,
    EmbeddingRejected,
    EmbeddingUnavailable,
)

__all__ = [
    "Embedder",
    "EmbeddingError",
    "EmbeddingRejected",
    "EmbeddingUnavailable",
    "build_embedder",
    "get_embedder",
]

BACKENDS = ("local", "openai", "hashing")


def build_embedder(
    backend: str,
    *,
    dimensions: int,
    model: str = "",
    api_base: str = "",
    api_key: str = "",
    timeout: float = 30.0,
    threads: int = 1,
) -> Embedder:
    """A new embedder for ``backend``; vendor modules are imported only when chosen."""
    if backend == "local":
        from providers.embeddings.local import DIMENSIONS, LocalEmbedder

        if dimensions != DIMENSIONS:
            raise ImproperlyConfigured(
                f"EMBEDDING_DIMENSIONS is {dimensions}, the local model has {DIMENSIONS}"
            )
        return LocalEmbedder(threads=threads)
    if backend == "openai":
        from providers.embeddings.openai_compat import OpenAICompatibleEmbedder

        return OpenAICompatibleEmbedder(
            base_url=api_base, api_key=api_key, model=model, dimensions=dimensions, timeout=timeout
        )
    if backend == "hashing":
        from providers.embeddings.hashing import HashingEmbedder

        return HashingEmbedder(dimensions=dimensions)
    raise ImproperlyConfigured(f"EMBEDDING_BACKEND must be one of {BACKENDS}, not {backend!r}")


@built_once
def _cached(backend: str, **options) -> Embedder:
    return build_embedder(backend, **options)


def get_embedder() -> Embedder:
    """The embedder the settings name (cached per distinct configuration)."""
    return _cached(
        settings.EMBEDDING_BACKEND,
        dimensions=settings.EMBEDDING_DIMENSIONS,
        model=settings.EMBEDDING_MODEL,
        api_base=settings.EMBEDDING_API_BASE,
        api_key=settings.EMBEDDING_API_KEY,
        timeout=settings.EMBEDDING_TIMEOUT_SECONDS,
        threads=settings.EMBEDDING_LOCAL_THREADS,
    )
