"""The storage and backup API views (records and vectors in storage.py, backups in backup.py)."""

from backups.api.views.backup import (
    BackupDetailView,
    BackupHistoryView,
    BackupUploadCollectionView,
    BackupUploadCompleteView,
    BackupUploadDetailView,
    BackupUploadPartView,
    BackupView,
)
from backups.api.views.storage import (
    RecordCollectionView,
    RecordDetailView,
    VectorCollectionView,
    VectorDeleteView,
    VectorDetailView,
    VectorSearchView,
    VectorUpsertView,
)

__all__ = [
    "BackupDetailView",
    "BackupHistoryView",
    "BackupUploadCollectionView",
    "BackupUploadCompleteView",
    "BackupUploadDetailView",
    "BackupUploadPartView",
    "BackupView",
    "RecordCollectionView",
    "RecordDetailView",
    "VectorCollectionView",
    "VectorDeleteView",
    "VectorDetailView",
    "VectorSearchView",
    "VectorUpsertView",
]
