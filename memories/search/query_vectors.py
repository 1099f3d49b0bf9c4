"""Query embeddings for search: cached per process, and embedded beside the keyword leg.

A user repeating a search, or chat recalling for a retried message, asks for the same vector
again: the last ``MEMORY_SEARCH_QUERY_CACHE_SIZE`` are kept, least recently used first out.
A new query's embedding (milliseconds of model time) need not wait for the database: hybrid
search hands it to a small pool of threads and runs its keyword leg meanwhile (onnxruntime and
HTTP embedders release the GIL), then the semantic leg with the vector; chat starts it before
the rest of a turn's preparation (``memories_query_prefetch``).
"""

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from django.conf import settings

from core.lru import Lru
from providers.embeddings import Embedder

_QUERY_VECTORS: Lru[tuple[str, str], list[float]] = Lru(
    lambda: settings.MEMORY_SEARCH_QUERY_CACHE_SIZE
)
# Queries being embedded now, by (embedder, query): a search arriving meanwhile waits for it.
_PENDING: dict[tuple[str, str], Future] = {}
_PENDING_LOCK = threading.Lock()
# Searches of one process embedding at the same moment; past this they queue. The local model
# runs one thread per call, so a few calls side by side use a few cores.
_EMBEDDING_THREADS = 4
# (pid, pool): a forked child (a Celery worker, a preloading server) cannot use its parent's
# threads, so each process makes its own pool on first use.
_EMBEDDING_POOL: tuple[int, ThreadPoolExecutor] | None = None


def cached_query_vector(embedder: Embedder, query: str) -> list[float] | None:
    """``query``'s embedding if it was embedded lately, else None."""
    return _QUERY_VECTORS.get((embedder.name, query))


def query_vector(embedder: Embedder, query: str) -> list[float]:
    """``query``'s embedding, from the cache when it was embedded lately; EmbeddingError
    propagates."""
    cached = cached_query_vector(embedder, query)
    if cached is not None:
        return cached
    vector = list(embedder.embed([query])[0])
    _QUERY_VECTORS.put((embedder.name, query), vector)
    return vector


def query_vector_started(embedder: Embedder, query: str) -> Future:
    """``query_vector`` running in another thread: its future (``result()`` returns the vector
    or raises what embedding raised). A query already being embedded is not embedded twice:
    its future is shared."""
    global _EMBEDDING_POOL
    key = (embedder.name, query)
    with _PENDING_LOCK:
        if key in _PENDING:
            return _PENDING[key]
        if _EMBEDDING_POOL is None or _EMBEDDING_POOL[0] != os.getpid():
            pool = ThreadPoolExecutor(_EMBEDDING_THREADS, thread_name_prefix="query-embedding")
            _EMBEDDING_POOL = (os.getpid(), pool)
        future = _EMBEDDING_POOL[1].submit(query_vector, embedder, query)
        _PENDING[key] = future
    future.add_done_callback(lambda _: _pending_done(key))
    return future


def _pending_done(key: tuple[str, str]) -> None:
    with _PENDING_LOCK:
        _PENDING.pop(key, None)


def query_vectors_forget() -> None:
    """Empty the cache (the next search of every query embeds it again)."""
    _QUERY_VECTORS.clear()
