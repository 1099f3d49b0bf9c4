"""Encrypted records and client-side vectors: each view validates, calls one service or
selector, answers."""

import io
from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from backups import blobstore, selectors, services
from backups.api import serializers as s
from backups.api.views.common import (
    BINARY,
    CHECKSUM_HEADER,
    DOWNLOAD,
    IF_MATCH,
    IF_NONE_MATCH,
    MISSING_BYTES,
    NOT_MODIFIED,
    STALE,
    STALLED,
    STORAGE,
    RawStorageView,
    StorageView,
    blob_response,
    declared_length,
    is_raw,
)
from backups.models import EncryptedRecord
from core.api import validated
from core.asgi import STREAMED_CONTENT_TYPE
from core.errors import NotFound, ValidationFailed
from core.pagination import page_body

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
    return {"body": io.BytesIO(blob), "checksum": data["checksum"], "length": len(blob)}


class RecordCollectionView(RawStorageView):
    @extend_schema(
        tags=STORAGE, parameters=[s.RecordListQuery], responses=s.RecordPageOut,
        operation_id="storage_records_list",
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
        responses={201: s.RecordOut, 408: STALLED},
    )
    def post(self, request: Request) -> Response:
        if is_raw(request):
            table = validated(s.RawUploadQuery, request.query_params).get("table", "")
            upload = _record_upload(request)
        else:
            data = validated(s.RecordCreateIn, request.data)
            table, blob = data["table"], data["blob"]
            upload = {"body": io.BytesIO(blob), "checksum": data["checksum"], "length": len(blob)}
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
        responses={200: s.RecordOut, 408: STALLED, 412: STALE},
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


def _vectors_delete(request: Request) -> Response:
    data = validated(s.VectorDeleteIn, request.data)
    deleted = services.vectors_delete(user=request.user, keys=data["ids"])
    return Response({"deleted": deleted})


class VectorUpsertView(StorageView):
    # Served at storage/vectors and at the cloud design's storage/vectors/upsert.

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
        return Response({"vectors": s.VectorOut(vectors, many=True).data, "upserted": len(vectors)})


class VectorCollectionView(VectorUpsertView):
    @extend_schema(
        tags=STORAGE, request=s.VectorDeleteIn, responses={200: s.VectorDeleteOut},
        summary="Delete vectors by id, the body {ids} as POST storage/vectors/delete takes it",
    )  # fmt: skip
    def delete(self, request: Request) -> Response:
        return _vectors_delete(request)


class VectorSearchView(StorageView):
    reading_methods = frozenset({"POST"})

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
        if dimensions is None:
            return Response({"results": []})
        try:
            hits = selectors.vectors_nearest(
                user=request.user,
                vector=data["vector"],
                top_k=data["top_k"],
                table=data.get("table") or None,
            )
        except blobstore.BlobMissing:
            raise NotFound(MISSING_BYTES) from None
        return Response({"results": s.VectorHitOut(hits, many=True).data})


class VectorDeleteView(StorageView):
    @extend_schema(
        tags=STORAGE, request=s.VectorDeleteIn, responses=s.VectorDeleteOut,
        summary="Delete vectors by id (unknown ids are ignored)",
    )  # fmt: skip
    def post(self, request: Request) -> Response:
        return _vectors_delete(request)


class VectorDetailView(StorageView):
    @extend_schema(tags=STORAGE, summary="One vector's payload", responses=s.VectorDetailOut)
    def get(self, request: Request, vector_id: str) -> Response:
        vector = selectors.vector_get(user=request.user, key=vector_id)
        try:
            blob = blobstore.blob_bytes(key=vector.blob_key)
        except blobstore.BlobMissing:
            raise NotFound(MISSING_BYTES) from None
        return Response(s.VectorDetailOut(vector, context={"blob": blob}).data)
