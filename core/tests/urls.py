"""The real URLconf plus a few views that exist only to exercise the error plumbing."""

import threading

from django.http import HttpRequest, HttpResponse
from django.urls import path
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import handler400, handler403, handler404, handler500  # noqa: F401
from config.urls import urlpatterns as real_urlpatterns
from core.views import PublicView


class EchoView(PublicView):
    def post(self, request: Request) -> Response:
        return Response({"received": request.data})


class ThreadView(PublicView):
    """Which thread ran the view; with ``?wait=1``, it first waits for ``RELEASE``."""

    def get(self, request: Request) -> Response:
        if request.query_params.get("wait"):
            RELEASE.wait(10)
        return Response({"thread": threading.get_ident()})


RELEASE = threading.Event()


class PrivateView(APIView):
    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> Response:
        return Response({})


class ExplodingApiView(PublicView):
    def get(self, request: Request) -> Response:
        raise RuntimeError("provider key sk-live-1234-5678-abcd leaked into an exception")


def exploding_django_view(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("plain Django view failure with password=hunter2")


urlpatterns = [
    path("test/echo", EchoView.as_view()),
    path("test/private", PrivateView.as_view()),
    path("test/thread", ThreadView.as_view()),
    path("test/explode", ExplodingApiView.as_view()),
    path("test/explode-django", exploding_django_view),
    *real_urlpatterns,
]
