from django.urls import path

from tasks.api import views

app_name = "tasks"
urlpatterns = [
    path("tasks", views.TaskCollectionView.as_view(), name="collection"),
    path("tasks/stats", views.TaskStatsView.as_view(), name="stats"),
    path("tasks/suggestions", views.TaskSuggestionsView.as_view(), name="suggestions"),
    path("tasks/<str:task_id>", views.TaskDetailView.as_view(), name="detail"),
    path("tasks/<str:task_id>/comments", views.TaskCommentsView.as_view(), name="comments"),
    path("task-comments/<str:comment_id>", views.CommentDetailView.as_view(), name="comment"),
    path("projects", views.ProjectCollectionView.as_view(), name="projects"),
    path("projects/<str:project_id>", views.ProjectDetailView.as_view(), name="project"),
    path("recurrences", views.RecurrenceCollectionView.as_view(), name="recurrences"),
    path("recurrences/<str:rule_id>", views.RecurrenceDetailView.as_view(), name="recurrence"),
]
