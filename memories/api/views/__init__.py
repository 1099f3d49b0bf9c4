"""The memories API: each view validates with a serializer, calls one service or selector, and
serializes the result. Every view is owner-scoped through ``request.user``. One module per
concern; the views are re-exported here for the URLconf."""

from memories.api.views.bulk import MemoryBulkView, MemoryExportView, MemoryImportView
from memories.api.views.extraction import ExtractionJobView, MemoryExtractView
from memories.api.views.records import (
    MemoryCollectionView,
    MemoryDetailView,
    MemoryHistoryView,
    MemoryPromptView,
    MemoryResponseView,
    MemoryRevertView,
)
from memories.api.views.search import MemorySearchView, MemoryStatsView, MemorySummaryView
from memories.api.views.team import TeamMemoryCollectionView, TeamMemoryDetailView

__all__ = [
    "ExtractionJobView",
    "MemoryBulkView",
    "MemoryCollectionView",
    "MemoryDetailView",
    "MemoryExportView",
    "MemoryExtractView",
    "MemoryHistoryView",
    "MemoryImportView",
    "MemoryPromptView",
    "MemoryResponseView",
    "MemoryRevertView",
    "MemorySearchView",
    "MemoryStatsView",
    "MemorySummaryView",
    "TeamMemoryCollectionView",
    "TeamMemoryDetailView",
]
