"""Gzip for answers worth compressing, never for streams."""

from django.http import HttpRequest, HttpResponse
from django.middleware.gzip import GZipMiddleware

# Below this many bytes gzip's header and the CPU cost more than the bytes saved.
GZIP_MIN_BYTES = 1024


class BufferedGZipMiddleware(GZipMiddleware):
    """Django's GZipMiddleware (Accept-Encoding, Vary, ETag, BREACH-safe padding) for whole
    responses of at least ``GZIP_MIN_BYTES``.

    Streaming responses are left alone: gzip buffers its output until a block fills, so an SSE
    stream or an NDJSON export would reach the client in lumps instead of event by event.
    """

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if response.streaming or len(response.content) < GZIP_MIN_BYTES:
            return response
        return super().process_response(request, response)
