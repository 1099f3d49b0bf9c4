"""Error pages for a person's browser. A browser asking for a page (its Accept names HTML) that
is not one of the API's gets a page of the web app's; every other client the project's JSON
error shape (core.views), as before."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from core import views as json_errors

API_PREFIXES = ("/api/", "/v1/", "/mem0/", "/mcp", "/_allauth/", "/health", "/metrics")


def _browser(request: HttpRequest) -> bool:
    return "text/html" in request.headers.get("Accept", "") and not request.path.startswith(
        API_PREFIXES
    )


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _browser(request):
        return render(request, "web/not_found.html", status=404)
    return json_errors.not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _browser(request):
        # On its own, without the signed-in layout: whatever failed (the database) may fail again.
        return render(request, "web/errors/server_error.html", status=500)
    return json_errors.server_error(request)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form sent with a stale security token: most often a page left open while its person
    signed out and in again in another tab."""
    if _browser(request):
        return render(request, "web/errors/form_expired.html", status=403)
    return json_errors.permission_denied(request)
