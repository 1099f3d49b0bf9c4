from django.urls import path

from deletion.api import views

app_name = "deletion"
urlpatterns = [
    path("auth/me/deletion", views.AccountDeletionView.as_view(), name="account"),
]
