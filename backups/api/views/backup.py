"""Backups: whole streamed PUTs, resumable uploads in parts, conditional downloads."""

import uuid

from django.http import HttpResponse
from django.utils.http import http_date, parse_http_date_safe
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from backups import selectors, services
from backups.api import serializers as s
from backups.api.views.common import (
    BACKUP,
    BINARY,
    CHECKSUM,
    DOWNLOAD,
    IF_MODIFIED_SINCE,
    IF_NONE_MATCH,
    NOT_MODIFIED,
    STALLED,
    RawStorageView,
    StorageView,
    blob_response,
    declared_length,
    is_raw,
)
from backups.models import Backup
from core.api import validated
from core.asgi import STREAMED_CONTENT_TYPE
from core.errors import NotFound, ValidationFailed
from core.pagination import page_body

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


COUNT = {"type": "integer", "minimum": 0, "maximum": s.BIGINT_MAX}
BACKUP_PUT_HEADERS = [
    OpenApiParameter("X-Backup-Version", COUNT, OpenApiParameter.HEADER, required=True),
    OpenApiParameter("X-Backup-Timestamp", COUNT, OpenApiParameter.HEADER, required=True),
    OpenApiParameter("X-Backup-Checksum", CHECKSUM, OpenApiParameter.HEADER, required=True),
]


class BackupView(RawStorageView):
    @extend_schema(
        tags=BACKUP, summary="Download the latest backup", operation_id="backup_latest",
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
        request=BINARY, parameters=BACKUP_PUT_HEADERS, responses={201: s.BackupOut, 408: STALLED},
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
            text=True,
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
    def get(self, request: Request, backup_id: uuid.UUID) -> HttpResponse:
        return _backup_download(
            request, selectors.backup_get(user=request.user, backup_id=backup_id)
        )

    @extend_schema(tags=BACKUP, summary="Delete one backup", responses={204: None})
    def delete(self, request: Request, backup_id: uuid.UUID) -> Response:
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
    def get(self, request: Request, upload_id: uuid.UUID) -> Response:
        upload = selectors.backup_upload_get(user=request.user, upload_id=upload_id)
        return Response(s.BackupUploadOut(upload).data)

    @extend_schema(tags=BACKUP, summary="Abandon an upload", responses={204: None})
    def delete(self, request: Request, upload_id: uuid.UUID) -> Response:
        services.backup_upload_abort(user=request.user, upload_id=upload_id)
        return Response(status=204)


class BackupUploadPartView(RawStorageView):
    @extend_schema(
        tags=BACKUP, summary="Upload one part (raw; again to replace it)", request=BINARY,
        parameters=[OpenApiParameter("X-Part-Checksum", CHECKSUM, OpenApiParameter.HEADER,
                                     required=True)],
        responses={200: s.BackupPartOut, 408: STALLED},
    )  # fmt: skip
    def put(self, request: Request, upload_id: uuid.UUID, number: int) -> Response:
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
    def post(self, request: Request, upload_id: uuid.UUID) -> Response:
        backup = services.backup_upload_complete(user=request.user, upload_id=upload_id)
        return Response(s.BackupOut(backup).data, status=201, headers=_backup_headers(backup))
