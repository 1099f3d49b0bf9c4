from django.urls import path

from chat.api import threads, views

app_name = "chat"

# Model ids may contain "/" and ":", hence the path converter; the longer routes come first.
urlpatterns = [
    path("models", views.ModelListView.as_view(), name="model-list"),
    path(
        "models/<path:model_id>/load/stream",
        views.ModelLoadStreamView.as_view(),
        name="model-load-stream",
    ),
    path("models/<path:model_id>/load", views.ModelLoadView.as_view(), name="model-load"),
    path("models/<path:model_id>/status", views.ModelStatusView.as_view(), name="model-status"),
    path("models/<path:model_id>", views.ModelDetailView.as_view(), name="model-detail"),
    path("threads", threads.ThreadListView.as_view(), name="threads"),
    path("threads/<str:thread_id>", threads.ThreadDetailView.as_view(), name="thread"),
    path(
        "threads/<str:thread_id>/models/<path:model_id>/messages",
        threads.MessageListView.as_view(),
        name="messages",
    ),
    path(
        "threads/<str:thread_id>/models/<path:model_id>/summarize",
        threads.SummarizeView.as_view(),
        name="summarize",
    ),
]
