"""mem0's search starts its query's embedding as soon as its body has arrived, as Engram's own
search does (memories.api.prefetch, where the rules are)."""

from collections.abc import Mapping

from interop.mem0_compat.authentication import mem0_key_secret
from memories.api import prefetch


def search_body_received(headers: Mapping[str, str], body: bytes) -> None:
    """core.asgi's early body hook of mem0's ``POST v3/memories/search/``."""
    secret = mem0_key_secret(headers.get("x-api-key"), headers.get("authorization"))
    prefetch.body_received(secret, body)
