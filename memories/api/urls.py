from django.urls import path

from memories.api import views

app_name = "memories"
urlpatterns = [
    path("memories", views.MemoryCollectionView.as_view(), name="collection"),
    path("memories/prompts", views.MemoryPromptView.as_view(), name="prompts"),
    path("memories/bulk", views.MemoryBulkView.as_view(), name="bulk"),
    path("memories/search", views.MemorySearchView.as_view(), name="search"),
    path("memories/export", views.MemoryExportView.as_view(), name="export"),
    path("memories/import", views.MemoryImportView.as_view(), name="import"),
    path("memories/stats", views.MemoryStatsView.as_view(), name="stats"),
    path("memories/summary", views.MemorySummaryView.as_view(), name="summary"),
    path("memories/extract", views.MemoryExtractView.as_view(), name="extract"),
    path("memories/<str:memory_id>", views.MemoryDetailView.as_view(), name="detail"),
    path("memories/<str:memory_id>/response", views.MemoryResponseView.as_view(), name="response"),
    path("memories/<str:memory_id>/history", views.MemoryHistoryView.as_view(), name="history"),
    path("memories/<str:memory_id>/revert", views.MemoryRevertView.as_view(), name="revert"),
    path(
        "teams/<str:organisation_id>/memories",
        views.TeamMemoryCollectionView.as_view(),
        name="team-collection",
    ),
    path(
        "teams/<str:organisation_id>/memories/<str:memory_id>",
        views.TeamMemoryDetailView.as_view(),
        name="team-detail",
    ),
    path("jobs/<str:job_id>", views.ExtractionJobView.as_view(), name="job"),
]
