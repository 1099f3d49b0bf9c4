from django.urls import path

from chat.api import threads

app_name = "chat"

urlpatterns = [
    path("threads", threads.ThreadListView.as_view(), name="threads"),
    # Before threads/<id>/…: "new" is no thread id (they are UUIDs).
    path(
        "threads/new/models/<path:model_id>/messages",
        threads.ThreadStartView.as_view(),
        name="thread-start",
    ),
    path("threads/<str:thread_id>", threads.ThreadDetailView.as_view(), name="thread"),
    path("threads/<str:thread_id>/title", threads.ThreadTitleView.as_view(), name="thread-title"),
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
