"""The real URLconf plus views that exercise API-key scopes before other apps exist."""

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import handler400, handler403, handler404, handler500  # noqa: F401
from config.urls import urlpatterns as real_urlpatterns


class MemoriesScopedView(APIView):
    scope_family = "memories"

    def get(self, request: Request) -> Response:
        return Response({"user": str(request.user.pk)})

    def post(self, request: Request) -> Response:
        return Response({"user": str(request.user.pk)}, status=201)


class ChatScopedView(APIView):
    scope_family = "chat"

    def post(self, request: Request) -> Response:
        return Response({})


urlpatterns = [
    path("test/memories", MemoriesScopedView.as_view()),
    path("test/chat", ChatScopedView.as_view()),
    *real_urlpatterns,
]
