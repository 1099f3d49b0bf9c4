"""mem0's platform paths, under /mem0/ (the client's ``host``)."""

from django.urls import path

from interop.mem0_compat import views

app_name = "mem0"
urlpatterns = [
    path("v1/ping/", views.PingView.as_view(), name="ping"),
    path("v3/memories/add/", views.AddView.as_view(), name="add"),
    path("v3/memories/search/", views.SearchView.as_view(), name="search"),
    path("v3/memories/", views.ListView.as_view(), name="list"),
    path("v1/memories/", views.MemoryCollectionView.as_view(), name="collection"),
    path("v1/memories/<str:memory_id>/", views.MemoryDetailView.as_view(), name="detail"),
    path("v1/memories/<str:memory_id>/history/", views.MemoryHistoryView.as_view(), name="history"),
    path("v1/batch/", views.BatchView.as_view(), name="batch"),
    path("v1/entities/", views.EntitiesView.as_view(), name="entities"),
    path("v1/event/<str:event_id>/", views.EventView.as_view(), name="event"),
]
