"""Readiness checks: each dependency the service needs, with its status and latency; and
whether each configured LLM provider can be reached (cached: a probe is not a provider call)."""

import contextlib
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError, connection

from core import vector_index

CHECK_TIMEOUT_SECONDS = 1.0


class CheckFailed(Exception):
    pass


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    latency_ms: float
    detail: str = ""

    def as_dict(self) -> dict:
        body = {"status": "ok" if self.ok else "fail", "latency_ms": round(self.latency_ms, 2)}
        if self.detail:
            body["detail"] = self.detail
        return body


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
    if row is None:
        raise CheckFailed("the 'vector' extension is not installed in the database")


def _check_redis() -> None:
    import redis

    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=CHECK_TIMEOUT_SECONDS,
        socket_timeout=CHECK_TIMEOUT_SECONDS,
    )
    try:
        client.ping()
    finally:
        client.close()


def _check_celery() -> None:
    replies = current_app.control.ping(timeout=CHECK_TIMEOUT_SECONDS)
    if not replies:
        raise CheckFailed("no Celery worker answered a ping")


def _check_storage() -> None:
    name = default_storage.save(f"health/{uuid.uuid4().hex}.txt", ContentFile(b"ok"))
    default_storage.delete(name)


def _run(name: str, check: Callable[[], None]) -> CheckResult:
    started = time.perf_counter()
    try:
        check()
    except Exception as exc:  # a readiness probe reports every failure, whatever its type
        detail = str(exc) if isinstance(exc, CheckFailed) else f"{type(exc).__name__}: {exc}"
        return CheckResult(name, False, (time.perf_counter() - started) * 1000, detail)
    return CheckResult(name, True, (time.perf_counter() - started) * 1000)


def readiness() -> list[CheckResult]:
    """Run every check that applies to this configuration; Redis and Celery only when set."""
    results = [_run("database", _check_database)]
    if settings.REDIS_URL:
        results.append(_run("redis", _check_redis))
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        broker_ok = all(r.ok for r in results if r.name == "redis")
        results.append(
            _run("celery", _check_celery)
            if broker_ok
            else CheckResult("celery", False, 0.0, "skipped: the broker is unreachable")
        )
    results.append(_run("storage", _check_storage))
    return results


def index_status() -> dict[str, dict[str, int]] | None:
    """The per-user vector indexes by kind, valid or not (core.vector_index); None when the
    database does not answer (its check says why). An index not valid yet never makes the
    service unready: searches are exact until it is."""
    try:
        return vector_index.per_user_index_counts()
    except DatabaseError:
        return None


def _configured_providers() -> dict[str, str]:
    """Provider name → base URL, for the providers this server has a key or a URL for."""
    return {
        name: config["base_url"]
        for name, config in settings.LLM_PROVIDERS.items()
        if config["base_url"] and (config["api_key"] or name in ("ollama", "custom"))
    }


def _probe(base_url: str) -> dict:
    """Any HTTP answer (a 401 for our missing key included) means the provider is reachable;
    no key is sent, and nothing is generated."""
    started = time.perf_counter()
    try:
        urllib.request.urlopen(base_url, timeout=CHECK_TIMEOUT_SECONDS).close()
        status = "reachable"
    except urllib.error.HTTPError:
        status = "reachable"
    except (OSError, ValueError):
        status = "unreachable"
    return {
        "status": status,
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
        "checked_at": datetime.now(UTC).isoformat(),
    }


def provider_reachability() -> dict[str, dict]:
    """Each configured provider's last probe, probed again once it is older than
    ``HEALTH_PROVIDER_CACHE_SECONDS``. A cache that is down (the Redis the readiness checks
    report on) means a fresh probe, never an error: readiness must still say what fails."""
    answers = {}
    for name, base_url in _configured_providers().items():
        key = f"health:provider:{name}:{base_url}"
        try:
            answer = cache.get(key)
        except Exception:  # the cache backend's own connection errors, whatever the backend
            answer = None
        if answer is None:
            answer = _probe(base_url)
            with contextlib.suppress(Exception):
                cache.set(key, answer, settings.HEALTH_PROVIDER_CACHE_SECONDS)
        answers[name] = answer
    return answers
