"""What every page shares: the signed-in check, turning the project's errors into form errors
or an error page, and the few parsing helpers the pages need."""

import functools
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from core.errors import EngramError, NotFound, ValidationFailed


def page(section: str) -> Callable:
    """A signed-in page of ``section`` (the navigation marks it): signed-out visitors go to the
    sign-in page; another user's, a missing or a malformed object is the 404 page."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @login_required
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            request.section = section
            try:
                return view(request, *args, **kwargs)
            except NotFound:
                return render(request, "web/not_found.html", {"section": section}, status=404)

        return wrapper

    return decorate


def post_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A view a form's button posts to. An address typed or followed gets a page saying so (405,
    ``Allow: POST``), not the browser's blank error."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method != "POST":
            response = render(request, "web/errors/post_only.html", status=405)
            response["Allow"] = "POST"
            return response
        return view(request, *args, **kwargs)

    return wrapper


def render_page(
    request: HttpRequest, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> HttpResponse:
    context = {"section": getattr(request, "section", ""), **(context or {})}
    return render(request, template, context, status=status)


def error_text(error: EngramError) -> str:
    """The error's message and, when it names fields, what it says of each (no input echoed)."""
    parts = [error.message]
    for field, problems in (error.details or {}).items():
        if isinstance(problems, list | tuple):
            parts.append(f"{field}: {' '.join(str(problem) for problem in problems)}")
    return " ".join(parts)


def form_error(form: forms.Form, error: EngramError) -> None:
    """Show a service's refusal on the form: a validation error on the fields it names, else
    (and any other refusal, whose details name values rather than problems) on the whole form."""
    placed = False
    problems_by_field = error.details if isinstance(error, ValidationFailed) else {}
    for field, problems in (problems_by_field or {}).items():
        if field in form.fields and isinstance(problems, list | tuple):
            for problem in problems:
                form.add_error(field, str(problem))
            placed = True
    if not placed:
        form.add_error(None, error.message)


def flash_error(request: HttpRequest, error: EngramError) -> None:
    messages.error(request, error_text(error))


def acted(request: HttpRequest, action: Callable[[], object], success: str) -> bool:
    """Run the service call a page's button posts and say how it went: its refusal flashed (a
    404 left to ``page``'s not-found page), else ``success``. Whether it was done."""
    try:
        action()
    except EngramError as error:
        if error.status_code == 404:
            raise
        flash_error(request, error)
        return False
    messages.success(request, success)
    return True
