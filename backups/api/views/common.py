"""What every storage and backup view shares: raw bodies, streamed downloads, schema bits.

Raw (application/octet-stream) bodies are read by the services as streams, never whole: the
server hands them over unread (core.asgi, STREAMED_UPLOAD_PATHS). Downloads stream too.
"""

from contextlib import ExitStack
from typing import Any

from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser
from rest_framework.request import Request

from backups import blobstore, services
from backups.api.serializers import CHECKSUM_PATTERN
from core.api import ApiView
from core.asgi import STREAMED_CONTENT_TYPE
from core.errors import NotFound, ValidationFailed
from core.parsers import JSONParser

# An operator's problem, not the client's: manage.py verify_backups lists such rows.
MISSING_BYTES = "The stored bytes are missing."
STORAGE = ["storage"]
BACKUP = ["backup"]
BINARY = {STREAMED_CONTENT_TYPE: OpenApiTypes.BINARY}
CHECKSUM = {"type": "string", "pattern": CHECKSUM_PATTERN}
CHECKSUM_HEADER = OpenApiParameter(
    "X-Checksum",
    CHECKSUM,
    OpenApiParameter.HEADER,
    description="SHA-256 of the body, hex (raw bodies).",
)
IF_MATCH = OpenApiParameter(
    "If-Match", str, OpenApiParameter.HEADER, description="Replace only if still this ETag."
)
IF_NONE_MATCH = OpenApiParameter("If-None-Match", str, OpenApiParameter.HEADER)
IF_MODIFIED_SINCE = OpenApiParameter("If-Modified-Since", str, OpenApiParameter.HEADER)
NOT_MODIFIED = OpenApiResponse(description="Not modified (If-None-Match / If-Modified-Since).")
STALE = OpenApiResponse(
    OpenApiTypes.OBJECT, description="If-Match did not match (PRECONDITION_FAILED)."
)
# A raw body that stops arriving (core.asgi.BodyStalled); the schema hook adds the error shape.
STALLED = OpenApiResponse(
    description="No byte of the body arrived for STREAMED_UPLOAD_IDLE_SECONDS (REQUEST_TIMEOUT)."
)
DOWNLOAD = OpenApiResponse(
    OpenApiTypes.BINARY, description="The ciphertext; X-Checksum and ETag name it."
)


class OctetStreamParser(BaseParser):
    """Lets DRF accept raw bodies on the views that read them as streams themselves."""

    media_type = STREAMED_CONTENT_TYPE

    def parse(self, stream, media_type=None, parser_context=None):
        raise ParseError("This endpoint takes a JSON body here.")


def is_raw(request: Request) -> bool:
    return request.content_type.split(";")[0].strip().lower() == STREAMED_CONTENT_TYPE


def declared_length(request: Request) -> int | None:
    value = request.META.get("CONTENT_LENGTH")
    if not value:
        return None
    try:
        length = int(value)
    except ValueError:
        raise ValidationFailed("Content-Length is not a number.") from None
    if length < 0:
        raise ValidationFailed("Content-Length is not a number.")
    return length


def blob_response(request: Request, *, key: str, checksum: str, size: int) -> StreamingHttpResponse:
    # Django serves a sync iterator under ASGI by reading it whole into memory (and an async one
    # under WSGI likewise): each server gets the kind it can stream.
    try:
        content = blobstore.blob_read(key=key)
    except blobstore.BlobMissing:
        raise NotFound(MISSING_BYTES) from None
    if isinstance(request._request, ASGIRequest):
        content = blobstore.blob_stream(content)
    response = StreamingHttpResponse(content, content_type=STREAMED_CONTENT_TYPE)
    response["Content-Length"] = str(size)
    response["X-Checksum"] = checksum
    response["ETag"] = f'"{checksum}"'
    return response


class StorageView(ApiView):
    # Base of every storage view (no docstring: the schema would take it as the description).
    # API keys need storage:read to read (a vector search sent by POST reads) and storage:write
    # to store or delete.

    scope_family = "storage"


class RawStorageView(StorageView):
    """A view that also takes raw ciphertext bodies (read as streams)."""

    parser_classes = [JSONParser, OctetStreamParser]

    # A raw body holds one of its user's open uploads (services.upload_slot_hold) from
    # authentication to the answer.

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        with ExitStack() as self.upload_slot:
            return super().dispatch(request, *args, **kwargs)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if is_raw(request):
            self.upload_slot.enter_context(services.upload_slot_hold(user=request.user))
