"""The route table the fake's modules register their handlers in."""

import re
from collections.abc import Callable
from typing import Any

Handler = Callable[..., Any]
ROUTES: list[tuple[str, re.Pattern, Handler]] = []


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ROUTES.append((method, re.compile(f"^{pattern}$"), handler))
        return handler

    return register


class Page:
    """An HTML answer (the stand-ins for Stripe's hosted pages), or a redirect."""

    def __init__(self, body: str, redirect: str | None = None) -> None:
        self.body = body
        self.redirect = redirect
