"""Input and output shapes of the storage and backup API (blobs travel as base64 in JSON)."""

import base64
import binascii
import math
from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from backups.services.records import TABLE_MAX_LENGTH
from backups.services.vectors import MAX_DIMENSIONS
from core.pagination import PageQuerySerializer

MAX_VECTORS_PER_UPSERT = 500
MAX_TOP_K = 100
BIGINT_MAX = 2**63 - 1
FLOAT32_MAX = 3.4e38


# What base64.b64decode(validate=True) decodes: the standard alphabet, padded.
BASE64_PATTERN = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
CHECKSUM_PATTERN = r"^[0-9a-fA-F]{64}$"


def _blob(help_text: str) -> serializers.RegexField:
    return serializers.RegexField(
        BASE64_PATTERN,
        trim_whitespace=False,
        help_text=help_text,
        error_messages={"invalid": "Not valid base64."},
    )


def _checksum() -> serializers.RegexField:
    return serializers.RegexField(
        CHECKSUM_PATTERN,
        trim_whitespace=False,
        help_text="SHA-256 of the ciphertext, hex.",
        error_messages={"invalid": "Expected 64 hex characters (SHA-256)."},
    )


class RecordCreateIn(serializers.Serializer):
    table = serializers.CharField(max_length=TABLE_MAX_LENGTH)
    blob = _blob("The ciphertext, base64.")
    checksum = _checksum()

    def validate_blob(self, value: str) -> bytes:
        return _base64(value)


class RecordReplaceIn(serializers.Serializer):
    blob = _blob("The ciphertext, base64.")
    checksum = _checksum()

    def validate_blob(self, value: str) -> bytes:
        return _base64(value)


def _base64(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise serializers.ValidationError("Not valid base64.") from None


class RecordListQuery(PageQuerySerializer):
    table = serializers.CharField(required=False, max_length=TABLE_MAX_LENGTH)


class RawUploadQuery(serializers.Serializer):
    table = serializers.CharField(required=False, max_length=TABLE_MAX_LENGTH)


class RecordOut(serializers.Serializer):
    id = serializers.UUIDField()
    table = serializers.CharField()
    size = serializers.IntegerField()
    checksum = serializers.CharField()
    etag = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_etag(self, record) -> str:
        return f'"{record.checksum}"'


class RecordPageOut(serializers.Serializer):
    results = RecordOut(many=True)
    next_cursor = serializers.CharField(allow_null=True)
    has_more = serializers.BooleanField()


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "number", "minimum": -FLOAT32_MAX, "maximum": FLOAT32_MAX},
        "minItems": 1,
        "maxItems": MAX_DIMENSIONS,
        "not": {"items": {"enum": [0]}},
        "description": "32-bit floats, not all zero (a zero vector has no direction).",
    }
)
class VectorField(serializers.ListField):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(
            child=serializers.FloatField(), min_length=1, max_length=MAX_DIMENSIONS, **kwargs
        )

    def to_internal_value(self, data: object) -> list[float]:
        vector = super().to_internal_value(data)
        # Stored as 32-bit floats.
        if not all(math.isfinite(x) and abs(x) <= FLOAT32_MAX for x in vector):
            raise serializers.ValidationError("Every component must be a finite 32-bit float.")
        if vector and not any(vector):
            raise serializers.ValidationError("A zero vector has no direction to compare.")
        return vector


class VectorIn(serializers.Serializer):
    id = serializers.CharField(max_length=200)
    vector = VectorField()
    blob = _blob("The encrypted payload, base64.")
    checksum = _checksum()
    table = serializers.CharField(required=False, allow_blank=True, max_length=TABLE_MAX_LENGTH)

    def validate_blob(self, value: str) -> bytes:
        return _base64(value)


class VectorUpsertIn(serializers.Serializer):
    vectors = VectorIn(many=True, max_length=MAX_VECTORS_PER_UPSERT)


class VectorOut(serializers.Serializer):
    id = serializers.CharField(source="key")
    table = serializers.CharField()
    dimensions = serializers.IntegerField()
    size = serializers.IntegerField()
    checksum = serializers.CharField()


class VectorUpsertOut(serializers.Serializer):
    vectors = VectorOut(many=True)
    upserted = serializers.IntegerField(help_text="How many vectors were stored or replaced.")


class VectorDetailOut(VectorOut):
    blob = serializers.SerializerMethodField()

    def get_blob(self, vector) -> str:
        return base64.b64encode(self.context["blob"]).decode()


class VectorSearchIn(serializers.Serializer):
    vector = VectorField()
    top_k = serializers.IntegerField(min_value=1, max_value=MAX_TOP_K, default=10)
    table = serializers.CharField(required=False, allow_blank=True, max_length=TABLE_MAX_LENGTH)


class VectorHitOut(serializers.Serializer):
    id = serializers.CharField(source="key")
    score = serializers.FloatField()
    blob = serializers.SerializerMethodField()

    def get_blob(self, hit) -> str:
        return base64.b64encode(hit.blob).decode()


class VectorSearchOut(serializers.Serializer):
    results = VectorHitOut(many=True)


class VectorDeleteIn(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.CharField(max_length=200), max_length=MAX_VECTORS_PER_UPSERT
    )


class VectorDeleteOut(serializers.Serializer):
    deleted = serializers.IntegerField()


class BackupOut(serializers.Serializer):
    id = serializers.UUIDField()
    version = serializers.IntegerField()
    timestamp = serializers.IntegerField(source="client_timestamp")
    size = serializers.IntegerField()
    checksum = serializers.CharField()
    created_at = serializers.DateTimeField()
    chunk_count = serializers.IntegerField(
        help_text="The parts it was uploaded in (1: one PUT); the bytes download whole."
    )


class BackupPageOut(serializers.Serializer):
    results = BackupOut(many=True)
    next_cursor = serializers.CharField(allow_null=True)
    has_more = serializers.BooleanField()


class BackupUploadIn(serializers.Serializer):
    version = serializers.IntegerField(min_value=0, max_value=BIGINT_MAX)
    timestamp = serializers.IntegerField(min_value=0, max_value=BIGINT_MAX)
    size = serializers.IntegerField(min_value=1)
    checksum = _checksum()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # At most an upload's limit (a whole backup past it is a 413), as configured now: the
        # schema, made per request, says so too.
        self.fields["size"] = serializers.IntegerField(
            min_value=1, max_value=settings.STORAGE_MAX_UPLOAD_BYTES
        )


class BackupUploadOut(BackupOut):
    chunk_count = None  # an upload says part_count
    part_size = serializers.IntegerField()
    part_count = serializers.IntegerField()
    parts_received = serializers.SerializerMethodField()

    def get_parts_received(self, upload) -> list[int]:
        return sorted(part.number for part in upload.parts.all())


class BackupPartOut(serializers.Serializer):
    number = serializers.IntegerField()
    size = serializers.IntegerField()
    checksum = serializers.CharField()


class BackupHeaders(serializers.Serializer):
    """The headers of a whole-backup PUT."""

    version = serializers.IntegerField(min_value=0, max_value=BIGINT_MAX)
    timestamp = serializers.IntegerField(min_value=0, max_value=BIGINT_MAX)
    checksum = serializers.CharField(max_length=64)
