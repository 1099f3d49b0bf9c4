from django.urls import path

from llm.api import provider_keys, views

app_name = "llm"

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
    # Beside accounts' auth/provider-keys list: saving one asks the provider about it.
    path(
        "auth/provider-keys/<str:provider>",
        provider_keys.ProviderKeyDetailView.as_view(),
        name="provider-key",
    ),
]
