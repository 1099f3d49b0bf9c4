"""The least a search over HTTP costs on this machine: issue 26's floor, timed by
`make bench-retrieval` beside Engram's endpoint (bench/retrieval_latency.py).

Served as `make run` serves Engram (uvicorn with config/runtime.py's flags, one process,
bench/search_http.py), with the same model, and nothing else: no authentication, rate limit,
middleware or database per request, no keyword leg, fusion or highlights. A request's query is
embedded in a worker thread, searched exactly over one user's vectors (``BENCH_FLOOR_USER``, read
once at start) by a numpy product, and its ten nearest memories' ids answered as JSON. What
Engram's search takes beyond this is its own code; what this takes beyond the model is the
server and the machine.
"""

import asyncio
import json
import os
from concurrent.futures import ThreadPoolExecutor

import django
import numpy as np

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.db import connections  # noqa: E402

from memories.models import MemoryChunk  # noqa: E402
from providers.embeddings import get_embedder  # noqa: E402

__all__ = ["application"]

_EMBEDDER = get_embedder()
_EMBEDDER.embed(["loaded before the first request"])
_CHUNKS = MemoryChunk.objects.filter(user_id=os.environ["BENCH_FLOOR_USER"], model=_EMBEDDER.name)
_IDS = [str(pk) for pk in _CHUNKS.values_list("memory_id", flat=True).order_by("pk")]
_VECTORS = np.array(list(_CHUNKS.values_list("embedding", flat=True).order_by("pk")), np.float32)
connections.close_all()
_THREADS = ThreadPoolExecutor(2, thread_name_prefix="floor")
_JSON = [(b"content-type", b"application/json")]


def _search(body: bytes) -> bytes:
    scores = _VECTORS @ _EMBEDDER.embed([json.loads(body)["query"]])[0]
    top = np.argpartition(-scores, min(10, len(scores) - 1))[:10]
    top = top[np.argsort(-scores[top])]
    results = [{"id": _IDS[i], "score": float(scores[i])} for i in top]
    return json.dumps({"results": results, "took_ms": 0, "mode": "semantic"}).encode()


async def application(scope: dict, receive, send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body, more = b"", True
    while more:
        message = await receive()
        body, more = body + message.get("body", b""), message.get("more_body", False)
    if scope["path"] == "/health":  # search_http's probe
        answer = b"{}"
    else:
        answer = await asyncio.get_running_loop().run_in_executor(_THREADS, _search, body)
    await send({"type": "http.response.start", "status": 200, "headers": _JSON})
    await send({"type": "http.response.body", "body": answer})
