from django.urls import path, re_path

from marketplace.api import views

app_name = "marketplace"
PLUGIN = r"plugins/(?P<plugin_id>[a-z0-9-]{1,39}\.[a-z0-9-]{1,39})"
urlpatterns = [
    path("plugins", views.PluginCollectionView.as_view(), name="plugins"),
    path("plugins/installed", views.InstalledListView.as_view(), name="installed"),
    re_path(rf"^{PLUGIN}$", views.PluginDetailView.as_view(), name="plugin"),
    re_path(rf"^{PLUGIN}/install$", views.PluginInstallView.as_view(), name="install"),
    re_path(rf"^{PLUGIN}/rating$", views.PluginRatingView.as_view(), name="rating"),
    path("marketplace/publisher", views.PublisherView.as_view(), name="publisher"),
    path("marketplace/publisher/onboarding", views.OnboardingView.as_view(), name="onboarding"),
    path("marketplace/submissions", views.SubmissionListView.as_view(), name="submissions"),
    path("marketplace/earnings", views.EarningsView.as_view(), name="earnings"),
    path("marketplace/reviews", views.ReviewQueueView.as_view(), name="reviews"),
    path(
        "marketplace/reviews/<uuid:version_id>",
        views.ReviewDecisionView.as_view(),
        name="review",
    ),
    path(
        "marketplace/packages/<str:token>",
        views.PackageDownloadView.as_view(),
        name="package-download",
    ),
]
