"""A search's query embedding, started as soon as the request's body has arrived.

core.asgi shows the search route's body to ``search_body_received`` on the event loop, before
the request's thread runs its middleware, authentication, rate limit and validation: the model's
milliseconds, the largest part of a new query's time, then run beside all of that instead of
after it (bench/HISTORY.md, "The request path, second pass").

That happens before the caller is known, so only for an API key whose last search in this
process was answered (200) within TRUSTED_SECONDS: a stranger, a revoked key or a client held
back by its rate limit gets no model time for nothing. Any other answer forgets the key, so a
client refused for its rate limit gets at most one head start more. The vector lands in the
query cache (memories.search.query_vectors) that the search itself reads.
"""

import json
import time
from collections.abc import Mapping

from django.http import HttpResponseBase

from accounts.authentication import api_key_secret
from accounts.services import hash_api_key
from core.lru import Lru
from memories.search import memories_query_prefetch

TRUSTED_SECONDS = 300.0
# Keys remembered at once in a process, the least recently used first out.
TRUSTED_MAX = 10_000

_TRUSTED: Lru[str, float] = Lru(TRUSTED_MAX)  # key hash -> trusted until (monotonic)


def search_body_received(headers: Mapping[str, str], body: bytes) -> None:
    """core.asgi's early body hook of ``POST memories/search``."""
    body_received(api_key_secret(headers.get("x-api-key"), headers.get("authorization")), body)


def body_received(secret: str | None, body: bytes) -> None:
    """Start embedding the query of a search whose body is ``body`` (JSON, the text in
    ``query``), sent with the API key ``secret``, when that key is trusted and the search needs
    a vector."""
    if secret is None or not _trusted(hash_api_key(secret)):
        return
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # the view answers it with a 400
        return
    if not isinstance(data, dict) or data.get("mode", "hybrid") == "keyword":
        return
    query = data.get("query")
    # As the view's serializer takes it (its CharField strips), so the search finds this vector.
    if isinstance(query, str) and query.strip():
        memories_query_prefetch(query.strip())


def search_answered(secret: str | None, response: HttpResponseBase) -> None:
    """Trust the API key ``secret`` of a search answered 200; forget it after any other
    answer."""
    if secret is None:
        return
    key_hash = hash_api_key(secret)
    if response.status_code != 200:
        _TRUSTED.pop(key_hash)
    else:
        _TRUSTED.put(key_hash, time.monotonic() + TRUSTED_SECONDS)


def trusted_forget() -> None:
    """Trust no key (tests start from a process that has answered no search)."""
    _TRUSTED.clear()


def _trusted(key_hash: str) -> bool:
    return (_TRUSTED.get(key_hash) or 0.0) > time.monotonic()
