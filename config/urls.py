from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core.metrics import metrics_view
from core.views import LivenessView, ReadinessView, VersionView

admin.site.site_header = "Engram operations"
admin.site.site_title = "Engram operations"
admin.site.index_title = "Operator console"

api_v1 = [
    path("version", VersionView.as_view(), name="version"),
    # Where the cloud design's client looks (GET /api/v1/health: {status, version}).
    path("health", LivenessView.as_view(), name="api-health"),
    path("auth/", include("accounts.api.urls")),
    path("", include("deletion.api.urls")),
    path("", include("memories.api.urls")),
    path("", include("llm.api.urls")),
    path("", include("chat.api.urls")),
    path("", include("agents.api.urls")),
    path("billing/", include("billing.api.urls")),
    path("", include("marketplace.api.urls")),
    path("", include("backups.api.urls")),
    path("", include("tasks.api.urls")),
    path("", include("connect.api.urls")),
    path("", include("teams.api.urls")),
]

urlpatterns = [
    path("health", LivenessView.as_view(), name="health"),
    path("health/ready", ReadinessView.as_view(), name="health-ready"),
    path("metrics", metrics_view, name="metrics"),
    path("api/v1/", include(api_v1)),
    # OpenAI-compatible, at the path OpenAI clients expect under their base URL.
    path("v1/", include("chat.api.openai_urls")),
    # mem0's platform API, for mem0ai's MemoryClient with host="http://HOST:PORT/mem0".
    path("mem0/", include("interop.mem0_compat.urls")),
    # allauth's headless API: sign-in (app and browser clients), email, MFA, provider sign-in.
    path("_allauth/", include("allauth.headless.urls")),
    # Where Google, GitHub and OIDC providers send the browser back (/accounts/oidc/<id>/login/
    # callback/, /accounts/google/login/callback/, ...): allauth's provider views only.
    path("accounts/", include("allauth.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("admin/", admin.site.urls),
    # The approval page of the extension's connect handshake (docs/extension.md).
    path("connect/", include("connect.urls")),
    # The web app (docs/web.md): `/` is its home for a browser, the JSON of what this server is
    # and where its doors are (core's RootView) for a client.
    path("", include("web.urls")),
]

handler400 = "core.views.bad_request"
handler403 = "core.views.permission_denied"
# A browser's page gets the web app's (web.views.errors), every other client the JSON shape.
handler404 = "web.views.errors.not_found"
handler500 = "web.views.errors.server_error"
