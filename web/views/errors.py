"""Error pages for a person's browser. A browser asking for a page (its Accept names HTML) that
is not one of the API's gets a page of the web app's; every other client the project's JSON
error shape (core.views), as before."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from core import views as json_errors
from web.middleware import POLICY

API_PREFIXES = ("/api/", "/v1/", "/mem0/", "/mcp", "/_allauth/", "/health", "/metrics")


def _browser(request: HttpRequest) -> bool:
    return "text/html" in request.headers.get("Accept", "") and not request.path.startswith(
        API_PREFIXES
    )


def _page(request: HttpRequest, template: str, status: int) -> HttpResponse:
    # The app's policy, which its middleware sets only on the pages its URLs resolve to.
    response = render(request, template, status=status)
    response["Content-Security-Policy"] = POLICY
    return response


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _browser(request):
        return _page(request, "web/not_found.html", 404)
    return json_errors.not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _browser(request):
        return _page(request, "web/errors/server_error.html", 500)
    return json_errors.server_error(request)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form sent with a stale security token: most often a page left open while its person
    signed out and in again in another tab."""
    if _browser(request):
        return _page(request, "web/errors/form_expired.html", 403)
    return json_errors.permission_denied(request)
