"""Ollama's own API, for what its OpenAI-compatible one lacks: pulling a model, listing the pulled
and the ones in memory.

Chat with a local model goes through the gateway like any other (Ollama at ``<url>/v1``).
"""

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx2

from providers.llm.errors import ProviderError, ProviderUnavailable

PROVIDER = "ollama"


@dataclass(frozen=True)
class PullProgress:
    """One progress line of a pull: ``status`` ("pulling manifest", "pulling <digest>",
    "verifying sha256 digest", "writing manifest", "success"), and byte counts per layer."""

    status: str
    digest: str = ""
    completed: int = 0
    total: int = 0


@dataclass(frozen=True)
class RunningModel:
    """A model Ollama holds in memory (``/api/ps``): bytes it takes, of them in GPU memory, and
    when Ollama unloads it unless it is used again (ISO 8601, as Ollama wrote it)."""

    size: int
    size_vram: int
    expires_at: str


def _same_model(name: str, wanted: str) -> bool:
    # Ollama names an untagged model "<name>:latest".
    return name == wanted or name == f"{wanted}:latest" or f"{name}:latest" == wanted


def local_models(base_url: str, *, timeout: float = 3.0) -> set[str]:
    """Names of the models this Ollama has pulled. Raises ProviderUnavailable if unreachable."""
    try:
        response = httpx2.get(f"{base_url.rstrip('/')}/api/tags", timeout=timeout)
        response.raise_for_status()
        return {str(m.get("name", "")) for m in response.json().get("models", [])}
    except (httpx2.HTTPError, ValueError, AttributeError) as exc:
        raise ProviderUnavailable(
            "Ollama does not answer.", details={"provider": PROVIDER, "reason": str(exc)[:200]}
        ) from exc


def has_model(base_url: str, model: str, *, timeout: float = 3.0) -> bool:
    return any(_same_model(name, model) for name in local_models(base_url, timeout=timeout))


def running_model(base_url: str, model: str, *, timeout: float = 3.0) -> RunningModel | None:
    """``model`` as Ollama holds it in memory, or None when it is not loaded. Raises
    ProviderUnavailable if Ollama is unreachable or answers something else than its list."""
    try:
        response = httpx2.get(f"{base_url.rstrip('/')}/api/ps", timeout=timeout)
        response.raise_for_status()
        for entry in response.json().get("models", []):
            if _same_model(str(entry.get("name", "")), model):
                return RunningModel(
                    size=int(entry.get("size") or 0),
                    size_vram=int(entry.get("size_vram") or 0),
                    expires_at=str(entry.get("expires_at") or ""),
                )
        return None
    except (httpx2.HTTPError, ValueError, AttributeError, TypeError) as exc:
        raise ProviderUnavailable(
            "Ollama does not answer.", details={"provider": PROVIDER, "reason": str(exc)[:200]}
        ) from exc


async def pull(
    base_url: str, model: str, *, read_timeout: float = 120.0
) -> AsyncIterator[PullProgress]:
    """Pull ``model`` into Ollama, yielding its progress lines until ``success``.

    Raises ProviderUnavailable when Ollama cannot be reached or stops answering, ProviderError
    when it refuses (an unknown model) or reports an error mid-pull. Closing the iterator
    closes the request, which makes Ollama stop the download.
    """
    details = {"provider": PROVIDER, "model": model}
    timeout = httpx2.Timeout(read_timeout, connect=10.0)
    try:
        async with (
            httpx2.AsyncClient(timeout=timeout) as client,
            client.stream(
                "POST", f"{base_url.rstrip('/')}/api/pull", json={"model": model, "stream": True}
            ) as response,
        ):
            if response.status_code != 200:
                body = (await response.aread()).decode(errors="replace")
                raise ProviderError(
                    f"Ollama refused to pull {model}.",
                    details={
                        **details,
                        "upstream_status": response.status_code,
                        "upstream_message": _error_of(body),
                    },
                )
            async for line in response.aiter_lines():
                if not line.strip():
                    continue
                data = json.loads(line)
                if "error" in data:
                    raise ProviderError(
                        f"Ollama failed to pull {model}.",
                        details={**details, "upstream_message": str(data["error"])[:500]},
                    )
                yield PullProgress(
                    status=str(data.get("status", "")),
                    digest=str(data.get("digest", "")),
                    completed=int(data.get("completed") or 0),
                    total=int(data.get("total") or 0),
                )
    except httpx2.HTTPError as exc:
        raise ProviderUnavailable("Ollama does not answer.", details=details) from exc
    except ValueError as exc:
        raise ProviderError("Ollama sent progress we could not read.", details=details) from exc


def _error_of(body: str) -> str:
    try:
        return str(json.loads(body).get("error", body))[:500]
    except (ValueError, AttributeError):
        return body[:500]
