"""Per-user request limits from the user's tier, per-IP limits on registration, per-IP and
per-account limits on every login (the API's and the admin's).

Counters live in the cache (Redis in production) through django-ratelimit. Every limited
response carries ``X-RateLimit-Limit``/``-Remaining``/``-Reset`` for the window closest to its
limit; going over answers 429 ``RATE_LIMITED`` with ``Retry-After``. If the cache is down the
API keeps serving (fail open) and says so in the log at most once a minute.
"""

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django_ratelimit.core import get_usage
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from billing.tiers import limits_for
from core.errors import RateLimited
from core.metrics import RATE_LIMIT_REFUSALS
from core.middleware import DualModeMiddleware

if TYPE_CHECKING:
    from rest_framework.views import APIView

logger = logging.getLogger(__name__)
FAIL_OPEN_WARNING_INTERVAL_SECONDS = 60
LOGIN_GROUP = "auth:login"
EMAIL_CHANGE_GROUP = "auth:email-change"
EMAIL_VERIFICATION_GROUP = "auth:email-verify"
SIGNUP_GROUP = "auth:signup"
PASSWORD_RESET_GROUP = "auth:password-reset"
PASSWORD_RESET_KEY_GROUP = "auth:password-reset-key"
_last_fail_open_warning = 0.0


@dataclass(frozen=True)
class Window:
    name: str  # "minute", "day"
    group: str
    rate: str  # django-ratelimit rate, e.g. "20/m"
    key: str


@dataclass(frozen=True)
class WindowState:
    window: Window
    limit: int
    remaining: int
    reset_in: int  # seconds
    exceeded: bool


def _warn_fail_open(exc: Exception) -> None:
    global _last_fail_open_warning
    now = time.monotonic()
    if now - _last_fail_open_warning >= FAIL_OPEN_WARNING_INTERVAL_SECONDS:
        _last_fail_open_warning = now
        logger.warning("Rate limiting is off: the cache is unreachable (%s)", exc)


def auth_windows(group: str, account: str) -> list[Window]:
    """The windows one attempt at ``group`` (a login, a password reset, an email verification)
    counts in: its client's address and the account it names (an email, or the key of an
    emailed link), each at AUTH_RATE_LIMIT."""
    rate = settings.AUTH_RATE_LIMIT
    windows = [Window("minute", group, rate, "ip")]
    if account := account.strip().casefold():
        windows.append(Window("minute", f"{group}:account", rate, f"account:{account}"))
    return windows


def auth_rate_limit(request: HttpRequest, *, group: str, account: str) -> None:
    """Count one attempt at ``group`` naming ``account`` from ``request``'s client; raise
    ``RateLimited`` when over a limit."""
    _limit(request, auth_windows(group, account))


def login_rate_limit(request: HttpRequest, *, account: str) -> None:
    """Count one login attempt at ``account`` from ``request``'s client; raise
    ``RateLimited`` when over a limit. Called once the attempt's input is valid: a request
    that names no account and no password tries nothing. Every way in (the API's login, the
    admin's, allauth's) counts in the same windows, so none is a way around another's limit,
    and an account is not guessed at from many addresses at once."""
    auth_rate_limit(request, group=LOGIN_GROUP, account=account)


def _windows_for(request: Request, view: "APIView") -> list[Window]:
    ip_limited = getattr(view, "rate_limit_by_ip", False)
    if ip_limited:
        group = f"auth:{type(view).__name__}"
        return [Window("minute", group, settings.AUTH_RATE_LIMIT, "ip")]
    return user_windows(request.user)


def user_windows(user) -> list[Window]:
    """The windows of ``user``'s tier (none for an anonymous caller)."""
    if user is None or not user.is_authenticated:
        return []
    limits = limits_for(user)
    key = f"user:{user.pk}"
    windows = [Window("minute", "api:minute", f"{limits.requests_per_minute}/m", key)]
    if limits.requests_per_day is not None:
        windows.append(Window("day", "api:day", f"{limits.requests_per_day}/d", key))
    return windows


def _usage(request: HttpRequest | None, window: Window, *, increment: bool) -> dict | None:
    key = window.key if window.key == "ip" else (lambda group, req, value=window.key: value)
    return get_usage(request, group=window.group, key=key, rate=window.rate, increment=increment)


def _count(request: HttpRequest | None, window: Window) -> WindowState | None:
    usage = _usage(request, window, increment=True)
    if usage is None:
        return None
    return WindowState(
        window=window,
        limit=usage["limit"],
        remaining=max(usage["limit"] - usage["count"], 0),
        reset_in=max(usage["time_left"], 0),
        exceeded=usage["should_limit"],
    )


def _binding(request: HttpRequest | None, windows: list[Window]) -> WindowState | None:
    """Count one request in each window; the window closest to its limit (over it, if any is).

    None when nothing was counted: limits switched off, no windows, or the cache unreachable
    (fail open). ``request`` may be None for per-user windows, which do not look at it.
    """
    if not settings.RATELIMIT_ENABLE or not windows:
        return None
    try:
        states = [_count(request, window) for window in windows]
    except Exception as exc:  # any cache failure: keep serving
        _warn_fail_open(exc)
        return None
    states = [state for state in states if state is not None]
    if not states:
        return None
    return min(states, key=lambda state: (not state.exceeded, state.remaining))


def _refuse_if_exceeded(binding: WindowState | None) -> None:
    if binding is None or not binding.exceeded:
        return
    RATE_LIMIT_REFUSALS.labels(window=binding.window.name).inc()
    reset_at = datetime.fromtimestamp(time.time() + binding.reset_in, UTC)
    raise RateLimited(
        f"Rate limit of {binding.limit} requests per {binding.window.name} reached.",
        details={
            "limit": binding.limit,
            "window": binding.window.name,
            "remaining": 0,
            "reset_at": reset_at.isoformat(),
            "retry_after": max(binding.reset_in, 1),
        },
    )


def _limit(request: HttpRequest, windows: list[Window]) -> None:
    """Count ``request`` in ``windows``; its response will carry the closest one's headers."""
    binding = _binding(request, windows)
    if binding is not None:
        request.rate_limit = binding
    _refuse_if_exceeded(binding)


def user_rate_limit(user) -> None:
    """Count one request of ``user`` made outside HTTP (a WebSocket frame that starts a turn)
    in the same windows as their API requests; raise ``RateLimited`` when over a limit."""
    _refuse_if_exceeded(_binding(None, user_windows(user)))


def user_requests_today(user) -> int | None:
    """The requests of ``user`` in the current window of their daily limit, counted as the limit
    counts them (every API request and socket turn); None when nothing counts them: a tier
    without a daily limit, limits switched off, or the cache unreachable."""
    window = next((w for w in user_windows(user) if w.name == "day"), None)
    if window is None or not settings.RATELIMIT_ENABLE:
        return None
    try:
        usage = _usage(None, window, increment=False)
    except Exception as exc:  # any cache failure, as when counting
        _warn_fail_open(exc)
        return None
    return None if usage is None else usage["count"]


class TierRateLimit(BaseThrottle):
    """DRF throttle hook: counts the request in each window and refuses it over any limit."""

    def allow_request(self, request: Request, view: "APIView") -> bool:
        _limit(request._request, _windows_for(request, view))
        return True


class RateLimitHeadersMiddleware(DualModeMiddleware):
    def after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        state: WindowState | None = getattr(request, "rate_limit", None)
        if state is not None:
            response["X-RateLimit-Limit"] = str(state.limit)
            response["X-RateLimit-Remaining"] = str(state.remaining)
            response["X-RateLimit-Reset"] = str(int(time.time()) + state.reset_in)
        return response
