"""The ASGI app `make run` serves, as the memories benchmark's server runs it
(bench/search_http.py).

One change: its corpus is synthetic (bench/memories_bench.py), so a query's real embedding would
be foreign to it and say nothing about recall. The real model still embeds every query (its time
is in every search), then the vector searched with is the one the benchmark planned for that text
from the corpus's own distribution: ``BENCH_QUERY_VECTORS`` names a JSON file ``{text: vector}``.
"""

import json
import os
from pathlib import Path

import numpy as np

from config.asgi import application
from memories.search import pipeline
from providers.embeddings import get_embedder

__all__ = ["application"]


class PlannedEmbedder:
    """The configured embedder's work and name, the planned vectors' answers."""

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.model = get_embedder()
        self.name = self.model.name
        self.dimensions = self.model.dimensions
        self.max_tokens = self.model.max_tokens
        self.vectors = vectors

    def embed(self, texts) -> np.ndarray:
        computed = self.model.embed(texts)
        planned = [
            self.vectors.get(text, vector) for text, vector in zip(texts, computed, strict=True)
        ]
        return np.asarray(planned, dtype=np.float32)


_EMBEDDER = PlannedEmbedder(json.loads(Path(os.environ["BENCH_QUERY_VECTORS"]).read_text()))
pipeline.get_embedder = lambda: _EMBEDDER
