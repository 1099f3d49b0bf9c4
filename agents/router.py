"""The local router: which agent a message is for, by embedding similarity, without a model call.

Each agent is described by its description and examples; a message goes to the agent whose
closest text is most similar to it (cosine of the configured embedder's unit vectors, the local
ONNX model by default). Used when no routing model is available or its answer is unusable.
"""

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from agents.llm_access import embed, embedder_name
from agents.registry import AgentSpec


@dataclass(frozen=True)
class Route:
    agent: str
    confidence: float
    method: str  # "llm", "local" or "explicit"


class LocalRouter:
    """Vectors of every agent's texts, embedded once per embedder and set of agents."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._indexes: dict[tuple[str, ...], tuple[list[str], np.ndarray]] = {}

    def _index(self, agents: Sequence[AgentSpec]) -> tuple[list[str], np.ndarray]:
        key = (embedder_name(), *(spec.name for spec in agents))
        with self._lock:
            if key not in self._indexes:
                owners, texts = [], []
                for spec in agents:
                    for text in (spec.description, *spec.examples):
                        owners.append(spec.name)
                        texts.append(text)
                self._indexes[key] = (owners, embed(texts))
            return self._indexes[key]

    def route(self, message: str, agents: Sequence[AgentSpec]) -> Route:
        """The best agent among ``agents`` (at least one) for ``message``."""
        owners, matrix = self._index(agents)
        scores = matrix @ embed([message])[0]
        best = int(np.argmax(scores))
        confidence = round(float(max(scores[best], 0.0)), 4)
        return Route(agent=owners[best], confidence=confidence, method="local")


local_router = LocalRouter()
