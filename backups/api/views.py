"""The storage and backup API: each view validates, calls one service or selector, answers.

Raw (application/octet-stream) bodies are read by the services as streams, never whole: the
server hands them over unread (core.asgi, STREAMED_UPLOAD_PATHS). Downloads stream too.
"""

from typing import Any

from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponse, StreamingHttpResponse
from django.utils.http import http_date, parse_http_date_safe
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser, JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backups import blobstore, selectors, services
from backups.api import serializers as s
from backups.models import Backup, EncryptedRecord
from core.api import validated
from core.asgi import STREAMED_CONTENT_TYPE
from core.errors import NotFound, ValidationFailed
from core.pagination import page_body

STORAGE = ["storage"]
BACKUP = ["backup"]
BINARY = {STREAMED_CONTENT_TYPE: OpenApiTypes.BINARY}
CHECKSUM_HEADER = OpenApiParameter(
    "X-Checksum", str, OpenApiParameter.HEADER, description="SHA-256 of the body, hex (raw bodies)."
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
        raise NotFound("The stored bytes are missing; verify_backups will list them.") from None
    if isinstance(request._request, ASGIRequest):
        content = blobstore.blob_stream(content)
    response = StreamingHttpResponse(content, content_type=STREAMED_CONTENT_TYPE)
    response["Content-Length"] = str(size)
    response["X-Checksum"] = checksum
    response["ETag"] = f'"{checksum}"'
    return response


class StorageView(APIView):
    """Base of every storage view. No ``scope_family``: API keys have no storage scope yet, so
    these take a signed-in JWT."""


class RawStorageView(StorageView):
    """A view that also takes raw ciphertext bodies (read as streams)."""

    parser_classes = [JSONParser, OctetStreamParser]


# --- Records -----------------------------------------------------------------------------------


def _record_upload(request: Request) -> dict[str, Any]:
    """The body of a record write, raw (a stream) or JSON (base64), as service arguments."""
    if is_raw(request):
        return {
            "body": request._request,
            "checksum": request.headers.get("X-Checksum", ""),
            "length": declared_length(request),
        }
    data = validated(s.RecordReplaceIn, request.data)
    blob = data["blob"]
    return {"body": _BytesBody(blob), "checksum": data["checksum"], "length": len(blob)}


class _BytesBody:
    """A decoded JSON blob, read like a request body."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)

    def read(self, size: int = -1) -> bytes:
        size = len(self._data) if size < 0 else size
        chunk, self._data = bytes(self._data[:size]), self._data[size:]
        return chunk


class RecordCollectionView(RawStorageView):
    @extend_schema(
        tags=STORAGE, parameters=[s.RecordListQuery], responses=s.RecordPageOut,
        summary="List records (metadata only, newest first)",
    )  # fmt: skip
    def get(self, request: Request) -> Response:
        query = validated(s.RecordListQuery, request.query_params)
        page = selectors.record_page(
            user=request.user, table=query.get("table"), cursor=query.get("cursor"),
            limit=query["limit"],
        )  # fmt: skip
        return Response(page_body(page, s.RecordOut))

    @extend_schema(
        tags=STORAGE,
        summary="Store an encrypted record (JSON with base64, or the raw ciphertext)",
        request={"application/json": s.RecordCreateIn, **BINARY},
        parameters=[s.RawUploadQuery, CHECKSUM_HEADER],
        responses={201: s.RecordOut},
    )
    def post(self, request: Request) -> Response:
        if is_raw(request):
            table = validated(s.RawUploadQuery, request.query_params).get("table", "")
            upload = _record_upload(request)
        else:
            data = validated(s.RecordCreateIn, request.data)
            table, blob = data["table"], data["blob"]
            upload = {"body": _BytesBody(blob), "checksum": data["checksum"], "length": len(blob)}
        record = services.record_create(user=request.user, table=table, **upload)
        return Response(s.RecordOut(record).data, status=201, headers=_etag(record))


def _etag(record: EncryptedRecord) -> dict[str, str]:
    return {"ETag": services.record_etag(record)}


class RecordDetailView(RawStorageView):
    @extend_schema(
        tags=STORAGE, summary="Download a record's ciphertext", parameters=[IF_NONE_MATCH],
        responses={(200, STREAMED_CONTENT_TYPE): DOWNLOAD, 304: NOT_MODIFIED},
    )  # fmt: skip
    def get(self, request: Request, record_id: str) -> HttpResponse:
        record = selectors.record_get(user=request.user, record_id=record_id)
        if_none_match = request.headers.get("If-None-Match")
        if if_none_match and services.etag_matches(if_none_match, record):
            return HttpResponse(status=304, headers=_etag(record))
        return blob_response(
            request, key=record.blob_key, checksum=record.checksum, size=record.size
        )

    @extend_schema(
        tags=STORAGE,
        summary="Replace a record's ciphertext (If-Match: a stale write is a 412)",
        request={"application/json": s.RecordReplaceIn, **BINARY},
        parameters=[IF_MATCH, CHECKSUM_HEADER],
        responses={200: s.RecordOut, 412: STALE},
    )
    def put(self, request: Request, record_id: str) -> Response:
        record = services.record_replace(
            user=request.user, record_id=record_id, if_match=request.headers.get("If-Match"),
            **_record_upload(request),
        )  # fmt: skip
        return Response(s.RecordOut(record).data, headers=_etag(record))

    @extend_schema(tags=STORAGE, summary="Delete a record (idempotent)", responses={204: None})
    def delete(self, request: Request, record_id: str) -> Response:
        services.record_delete(user=request.user, record_id=record_id)
        return Response(status=204)


# --- Vectors -----------------------------------------------------------------------------------


class VectorCollectionView(StorageView):
    @extend_schema(
        tags=STORAGE, request=s.VectorUpsertIn, responses=s.VectorUpsertOut,
        summary="Store or replace vectors with their encrypted payloads (all or none)",
    )  # fmt: skip
    def post(self, request: Request) -> Response:
        data = validated(s.VectorUpsertIn, request.data)
        drafts = [
            services.VectorDraft(
                key=item["id"],
                vector=item["vector"],
                blob=item["blob"],
                checksum=item["checksum"],
                table=item.get("table", ""),
            )
            for item in data["vectors"]
        ]
        vectors = services.vectors_upsert(user=request.user, drafts=drafts)
        return Response({"vectors": s.VectorOut(vectors, many=True).data})


class VectorSearchView(StorageView):
    @extend_schema(
        tags=STORAGE, request=s.VectorSearchIn, responses=s.VectorSearchOut,
        summary="The nearest of your vectors by cosine similarity, with their payloads",
    )  # fmt: skip
    def post(self, request: Request) -> Response:
        data = validated(s.VectorSearchIn, request.data)
        dimensions = selectors.vector_dimensions(user=request.user)
        if dimensions is not None and dimensions != len(data["vector"]):
            raise ValidationFailed(
                f"Your vector collection has {dimensions} dimensions.",
                details={"vector": [f"Expected {dimensions} dimensions."]},
            )
        hits = (
            []
            if dimensions is None
            else selectors.vectors_nearest(
                user=request.user,
                vector=data["vector"],
                top_k=data["top_k"],
                table=data.get("table") or None,
            )
        )
        return Response({"results": s.VectorHitOut(hits, many=True).data})


class VectorDeleteView(StorageView):
    @extend_schema(
        tags=STORAGE, request=s.VectorDeleteIn, responses=s.VectorDeleteOut,
        summary="Delete vectors by id (unknown ids are ignored)",
    )  # fmt: skip
    def post(self, request: Request) -> Response:
        data = validated(s.VectorDeleteIn, request.data)
        deleted = services.vectors_delete(user=request.user, keys=data["ids"])
        return Response({"deleted": deleted})


class VectorDetailView(StorageView):
    @extend_schema(tags=STORAGE, summary="One vector's payload", responses=s.VectorDetailOut)
    def get(self, request: Request, vector_id: str) -> Response:
        vector = selectors.vector_get(user=request.user, key=vector_id)
        try:
            blob = blobstore.blob_bytes(key=vector.blob_key)
        except blobstore.BlobMissing:
            raise NotFound("The stored bytes are missing; verify_backups will list them.") from None
        return Response(s.VectorDetailOut(vector, context={"blob": blob}).data)


# --- Backups -----------------------------------------------------------------------------------


def _backup_headers(backup: Backup) -> dict[str, str]:
    return {
        "ETag": f'"{backup.checksum}"',
        "Last-Modified": http_date(backup.created_at.timestamp()),
        "X-Backup-Id": str(backup.pk),
        "X-Backup-Version": str(backup.version),
        "X-Backup-Timestamp": str(backup.client_timestamp),
    }


def _backup_download(request: Request, backup: Backup) -> HttpResponse:
    headers = _backup_headers(backup)
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
        if "*" in tags or headers["ETag"] in tags:
            return HttpResponse(status=304, headers=headers)
    else:
        since = parse_http_date_safe(request.headers.get("If-Modified-Since", ""))
        if since is not None and int(backup.created_at.timestamp()) <= since:
            return HttpResponse(status=304, headers=headers)
    response = blob_response(
        request, key=backup.blob_key, checksum=backup.checksum, size=backup.size
    )
    for name, value in headers.items():
        response[name] = value
    return response


BACKUP_PUT_HEADERS = [
    OpenApiParameter("X-Backup-Version", int, OpenApiParameter.HEADER, required=True),
    OpenApiParameter("X-Backup-Timestamp", int, OpenApiParameter.HEADER, required=True),
    OpenApiParameter("X-Backup-Checksum", str, OpenApiParameter.HEADER, required=True),
]


class BackupView(RawStorageView):
    @extend_schema(
        tags=BACKUP, summary="Download the latest backup",
        parameters=[IF_NONE_MATCH, IF_MODIFIED_SINCE],
        responses={(200, STREAMED_CONTENT_TYPE): DOWNLOAD, 304: NOT_MODIFIED},
    )  # fmt: skip
    def get(self, request: Request) -> HttpResponse:
        backup = selectors.backup_latest(user=request.user)
        if backup is None:
            raise NotFound("You have no backup yet.")
        return _backup_download(request, backup)

    @extend_schema(
        tags=BACKUP, summary="Upload a whole backup (raw ciphertext, streamed)",
        request=BINARY, parameters=BACKUP_PUT_HEADERS, responses={201: s.BackupOut},
    )  # fmt: skip
    def put(self, request: Request) -> Response:
        if not is_raw(request):
            raise ValidationFailed(
                f"Send the backup as {STREAMED_CONTENT_TYPE}.",
                details={"Content-Type": [f"Expected {STREAMED_CONTENT_TYPE}."]},
            )
        meta = validated(
            s.BackupHeaders,
            {
                "version": request.headers.get("X-Backup-Version"),
                "timestamp": request.headers.get("X-Backup-Timestamp"),
                "checksum": request.headers.get("X-Backup-Checksum"),
            },
        )
        backup = services.backup_put(
            user=request.user, body=request._request, length=declared_length(request),
            version=meta["version"], client_timestamp=meta["timestamp"],
            checksum=meta["checksum"],
        )  # fmt: skip
        return Response(s.BackupOut(backup).data, status=201, headers=_backup_headers(backup))


class BackupHistoryView(StorageView):
    @extend_schema(
        tags=BACKUP, summary="Your backups, newest first (metadata only)",
        parameters=[s.PageQuerySerializer], responses=s.BackupPageOut,
    )  # fmt: skip
    def get(self, request: Request) -> Response:
        query = validated(s.PageQuerySerializer, request.query_params)
        page = selectors.backup_page(
            user=request.user, cursor=query.get("cursor"), limit=query["limit"]
        )
        return Response(page_body(page, s.BackupOut))


class BackupDetailView(StorageView):
    @extend_schema(
        tags=BACKUP, summary="Download one backup",
        parameters=[IF_NONE_MATCH, IF_MODIFIED_SINCE],
        responses={(200, STREAMED_CONTENT_TYPE): DOWNLOAD, 304: NOT_MODIFIED},
    )  # fmt: skip
    def get(self, request: Request, backup_id: str) -> HttpResponse:
        return _backup_download(
            request, selectors.backup_get(user=request.user, backup_id=backup_id)
        )

    @extend_schema(tags=BACKUP, summary="Delete one backup", responses={204: None})
    def delete(self, request: Request, backup_id: str) -> Response:
        services.backup_delete(user=request.user, backup_id=backup_id)
        return Response(status=204)


class BackupUploadCollectionView(StorageView):
    @extend_schema(
        tags=BACKUP, request=s.BackupUploadIn, responses={201: s.BackupUploadOut},
        summary="Start a resumable backup upload (then PUT its parts, then complete)",
    )  # fmt: skip
    def post(self, request: Request) -> Response:
        data = validated(s.BackupUploadIn, request.data)
        upload = services.backup_upload_start(
            user=request.user, version=data["version"], client_timestamp=data["timestamp"],
            size=data["size"], checksum=data["checksum"],
        )  # fmt: skip
        return Response(s.BackupUploadOut(upload).data, status=201)


class BackupUploadDetailView(StorageView):
    @extend_schema(
        tags=BACKUP, responses=s.BackupUploadOut,
        summary="An upload's state: which parts the server has (to resume)",
    )  # fmt: skip
    def get(self, request: Request, upload_id: str) -> Response:
        upload = selectors.backup_upload_get(user=request.user, upload_id=upload_id)
        return Response(s.BackupUploadOut(upload).data)

    @extend_schema(tags=BACKUP, summary="Abandon an upload", responses={204: None})
    def delete(self, request: Request, upload_id: str) -> Response:
        services.backup_upload_abort(user=request.user, upload_id=upload_id)
        return Response(status=204)


class BackupUploadPartView(RawStorageView):
    @extend_schema(
        tags=BACKUP, summary="Upload one part (raw; again to replace it)", request=BINARY,
        parameters=[OpenApiParameter("X-Part-Checksum", str, OpenApiParameter.HEADER,
                                     required=True)],
        responses=s.BackupPartOut,
    )  # fmt: skip
    def put(self, request: Request, upload_id: str, number: int) -> Response:
        if not is_raw(request):
            raise ValidationFailed(f"Send the part as {STREAMED_CONTENT_TYPE}.")
        part = services.backup_part_put(
            user=request.user, upload_id=upload_id, number=number, body=request._request,
            length=declared_length(request), checksum=request.headers.get("X-Part-Checksum", ""),
        )  # fmt: skip
        return Response(s.BackupPartOut(part).data)


class BackupUploadCompleteView(StorageView):
    @extend_schema(
        tags=BACKUP, request=None, responses={201: s.BackupOut},
        summary="Join the parts into a backup (its checksum verified over the whole)",
    )  # fmt: skip
    def post(self, request: Request, upload_id: str) -> Response:
        backup = services.backup_upload_complete(user=request.user, upload_id=upload_id)
        return Response(s.BackupOut(backup).data, status=201, headers=_backup_headers(backup))
