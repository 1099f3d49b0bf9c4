"""The operator's view of encrypted storage: per-user counts and bytes, never content."""

from django.contrib import admin

from backups import selectors
from backups.models import (
    Backup,
    BackupUpload,
    EncryptedRecord,
    EncryptedVector,
    StorageAccount,
)
from core.admin_mixins import shortened

KINDS = ("records", "vectors", "backups")
WHAT = ("count", "bytes")


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown, never added, edited or deleted here: the bytes behind a row go only through the
    services (a row deleted here would leave its blob behind)."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class MetadataOnlyAdmin(ReadOnlyAdmin):
    """Metadata of stored ciphertext; no blob is ever shown."""

    list_select_related = ["user"]
    search_fields = ["user__email"]


@admin.register(EncryptedRecord)
class EncryptedRecordAdmin(MetadataOnlyAdmin):
    list_display = [shortened("id"), shortened("user", length=20), "table", "size", "updated_at"]
    list_filter = ["table"]


@admin.register(EncryptedVector)
class EncryptedVectorAdmin(MetadataOnlyAdmin):
    list_display = [
        shortened("key", length=16),
        shortened("user", length=20),
        "table",
        "dimensions",
        "size",
        "updated_at",
    ]
    exclude = ["embedding"]


@admin.register(Backup)
class BackupAdmin(MetadataOnlyAdmin):
    list_display = [shortened("id"), shortened("user", length=20), "version", "size", "created_at"]


@admin.register(BackupUpload)
class BackupUploadAdmin(MetadataOnlyAdmin):
    list_display = [
        shortened("id"),
        shortened("user", length=20),
        "size",
        "part_size",
        "created_at",
    ]


@admin.register(StorageAccount)
class StorageAccountAdmin(ReadOnlyAdmin):
    list_display = [
        shortened("email", length=20),
        "tier",
        *(f"{kind}_{what}" for kind in KINDS for what in WHAT),
    ]
    search_fields = ["email"]
    fields = ["email", "tier"]
    readonly_fields = ["email", "tier"]

    def get_queryset(self, request):
        return selectors.storage_accounts(super().get_queryset(request))


def _column(name: str):
    def value(obj) -> int:
        return getattr(obj, name)

    value.short_description = name.replace("_", " ")
    value.admin_order_field = name
    return value


for _kind in KINDS:
    for _what in WHAT:
        setattr(StorageAccountAdmin, f"{_kind}_{_what}", staticmethod(_column(f"{_kind}_{_what}")))
