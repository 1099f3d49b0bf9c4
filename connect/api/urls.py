from django.urls import path

from connect.api import views

app_name = "connect-api"
urlpatterns = [
    path("connect/requests", views.ConnectRequestView.as_view(), name="requests"),
    path("connect/requests/<str:request_id>/token", views.ConnectTokenView.as_view(), name="token"),
    path("connect/key", views.ConnectKeyView.as_view(), name="key"),
]
