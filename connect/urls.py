from django.urls import path

from connect import views

app_name = "connect"
urlpatterns = [path("extension/", views.extension_connect, name="extension")]
