"""Any OpenAI-compatible ``/v1/embeddings`` endpoint (OpenAI, Ollama, vLLM, LM Studio,
text-embeddings-inference) through the ``openai`` package."""

from collections.abc import Sequence

import numpy as np
import openai

from providers.embeddings.base import (
    Embedder,
    EmbeddingRejected,
    EmbeddingUnavailable,
    l2_normalise,
)

# Only OpenAI's text-embedding-3 models accept a `dimensions` argument; others refuse it.
_SHORTENABLE_PREFIX = "text-embedding-3"


class OpenAICompatibleEmbedder(Embedder):
    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        model: str,
        dimensions: int,
        timeout: float,
        max_tokens: int = 8191,
    ) -> None:
        self.model = model
        self.dimensions = dimensions
        self.max_tokens = max_tokens
        self.name = f"openai:{model}@{dimensions}"
        # Retries belong to the caller (the Celery task backs off); the client must not hide them.
        self._client = openai.OpenAI(
            base_url=base_url, api_key=api_key or "unused", timeout=timeout, max_retries=0
        )

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        shortenable = self.model.startswith(_SHORTENABLE_PREFIX)
        extra = {"dimensions": self.dimensions} if shortenable else {}
        try:
            response = self._client.embeddings.create(model=self.model, input=list(texts), **extra)
        except (openai.APIConnectionError, openai.RateLimitError) as exc:
            # APITimeoutError is an APIConnectionError.
            raise EmbeddingUnavailable(f"embedding endpoint unavailable: {exc}") from exc
        except openai.APIStatusError as exc:
            status = exc.status_code
            if status in (408, 409, 425, 429) or status >= 500:
                raise EmbeddingUnavailable(f"embedding endpoint answered {status}") from exc
            raise EmbeddingRejected(
                f"embedding endpoint refused the request ({exc.status_code}): {exc.message}"
            ) from exc
        except openai.OpenAIError as exc:
            raise EmbeddingUnavailable(f"embedding request failed: {exc}") from exc
        rows = sorted(response.data, key=lambda item: item.index)
        if len(rows) != len(texts):
            raise EmbeddingUnavailable(f"asked for {len(texts)} embeddings, got {len(rows)}")
        vectors = np.asarray([row.embedding for row in rows], dtype=np.float32)
        if vectors.shape[1] != self.dimensions:
            raise EmbeddingRejected(
                f"model {self.model} returned {vectors.shape[1]} dimensions; "
                f"EMBEDDING_DIMENSIONS is {self.dimensions}"
            )
        return l2_normalise(vectors)
