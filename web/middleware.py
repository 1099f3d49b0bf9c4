"""The Content-Security-Policy of the web app's pages (the extension's connect page among them):
scripts, styles and connections only to this server, no inline script or style, no framing.
The API and the operator console are left as they are (JSON has nothing to run; the admin is
Django's)."""

from django.http import HttpRequest, HttpResponse

from core.middleware import DualModeMiddleware

POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware(DualModeMiddleware):
    """Sync and async alike (streamed chat answers must not be pulled onto a thread)."""

    def after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        match = getattr(request, "resolver_match", None)
        if match is not None and {"web", "connect"} & set(match.namespaces):
            response.setdefault("Content-Security-Policy", POLICY)
            response.setdefault("Referrer-Policy", "same-origin")
        return response
