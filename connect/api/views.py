"""The connect handshake's API (docs/extension.md): start, poll, disconnect."""

import uuid

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import ApiKey
from connect import services
from connect.api import serializers as s
from core.api import ApiView, validated
from core.errors import PermissionDenied

TAG = ["connect"]
REQUEST_ID = OpenApiParameter(
    "request_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The request's id."
)


class PublicConnectView(ApiView):
    """Reached without credentials: the client has none yet."""

    authentication_classes: list = []
    permission_classes = [AllowAny]


class ConnectRequestView(PublicConnectView):
    rate_limit_by_ip = True

    @extend_schema(
        tags=TAG,
        operation_id="connect_request_create",
        summary="Start connecting a client: a user code to show and a URL to open",
        request=s.ConnectRequestInput,
        responses={201: s.ConnectRequestOutput},
    )
    def post(self, request: Request) -> Response:
        data = validated(s.ConnectRequestInput, request.data)
        new = services.connect_request_create(client_name=data["client_name"])
        page = reverse("connect:extension")
        code = new.request.user_code
        body = {
            "request_id": new.request.pk,
            "user_code": code,
            "approval_url": request.build_absolute_uri(f"{page}?code={code}"),
            "poll_secret": new.poll_secret,
            "expires_in": services.expires_in(new.request),
            "interval": services.POLL_INTERVAL_SECONDS,
        }
        return Response(s.ConnectRequestOutput(body).data, status=201)


class ConnectTokenView(PublicConnectView):
    @extend_schema(
        tags=TAG,
        operation_id="connect_token_collect",
        summary="Poll a connect request: 202 while pending, the API key once when approved",
        parameters=[REQUEST_ID],
        request=s.ConnectPollInput,
        responses={
            200: s.ConnectKeyOutput,
            202: s.ConnectPendingOutput,
            410: OpenApiResponse(description="The request expired (CONNECT_EXPIRED)."),
        },
        description="403 CONNECT_DENIED: the user denied it. 404: no such request with this "
        "secret, or its key was collected already (a key is handed out once).",
    )
    def post(self, request: Request, request_id: str) -> Response:
        data = validated(s.ConnectPollInput, request.data)
        collected = services.connect_token_collect(
            request_id=_uuid_or_none(request_id), poll_secret=data["poll_secret"]
        )
        if collected.status == "pending":
            body = {
                "status": "pending",
                "expires_in": services.expires_in(collected.request),
                "interval": services.POLL_INTERVAL_SECONDS,
            }
            return Response(s.ConnectPendingOutput(body).data, status=202)
        key = collected.request.api_key
        body = {
            "status": "approved",
            "api_key": collected.secret,
            "key_id": key.pk,
            "scopes": key.scopes,
            "email": collected.request.user.email,
        }
        response = Response(s.ConnectKeyOutput(body).data)
        response["Cache-Control"] = "no-store"
        return response


class ConnectKeyView(ApiView):
    # Needs memories:write, which every connected client's key has.
    scope_family = "memories"
    # Not counted against the tier's limits: a client over its limit must still be able to kill
    # its own key (a refused disconnect left it working while the extension forgot it). Only a
    # working key reaches here, and once only: its next call is a 401.
    throttle_classes: list = []

    @extend_schema(
        tags=TAG,
        operation_id="connect_disconnect",
        summary="Disconnect: revoke the API key this request is made with",
        request=None,
        responses={204: None},
        description="Only an API key can disconnect itself (403 otherwise); the next call "
        "with it is a 401.",
    )
    def delete(self, request: Request) -> Response:
        if not isinstance(request.auth, ApiKey):
            raise PermissionDenied("Only an API key can disconnect itself.")
        services.connect_disconnect(key=request.auth)
        return Response(status=204)


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
