from django.urls import path

from backups.api import views

app_name = "backups"
urlpatterns = [
    path("storage/records", views.RecordCollectionView.as_view(), name="records"),
    path("storage/records/<str:record_id>", views.RecordDetailView.as_view(), name="record"),
    path("storage/vectors", views.VectorCollectionView.as_view(), name="vectors"),
    path("storage/vectors/upsert", views.VectorUpsertView.as_view(), name="vectors-upsert"),
    path("storage/vectors/search", views.VectorSearchView.as_view(), name="vectors-search"),
    path("storage/vectors/delete", views.VectorDeleteView.as_view(), name="vectors-delete"),
    path("storage/vectors/items/<str:vector_id>", views.VectorDetailView.as_view(), name="vector"),
    path("backup", views.BackupView.as_view(), name="backup"),
    path("backup/history", views.BackupHistoryView.as_view(), name="history"),
    path("backup/uploads", views.BackupUploadCollectionView.as_view(), name="uploads"),
    path("backup/uploads/<uuid:upload_id>", views.BackupUploadDetailView.as_view(), name="upload"),
    path(
        "backup/uploads/<uuid:upload_id>/parts/<int:number>",
        views.BackupUploadPartView.as_view(),
        name="upload-part",
    ),
    path(
        "backup/uploads/<uuid:upload_id>/complete",
        views.BackupUploadCompleteView.as_view(),
        name="upload-complete",
    ),
    path("backup/<uuid:backup_id>", views.BackupDetailView.as_view(), name="detail"),
]
