from django.urls import path

from accounts.api import views

app_name = "accounts"
urlpatterns = [
    path("register", views.RegisterView.as_view(), name="register"),
    path("login", views.LoginView.as_view(), name="login"),
    path("refresh", views.RefreshView.as_view(), name="refresh"),
    path("logout", views.LogoutView.as_view(), name="logout"),
    path("me", views.MeView.as_view(), name="me"),
    path("session/tokens", views.SessionTokensView.as_view(), name="session-tokens"),
    path("sign-in-methods", views.SignInMethodsView.as_view(), name="sign-in-methods"),
    path(
        "linked-accounts/<int:account_id>",
        views.LinkedAccountDetailView.as_view(),
        name="linked-account",
    ),
    path("password", views.PasswordView.as_view(), name="password"),
    path("email", views.EmailView.as_view(), name="email"),
    path("email/verification", views.EmailVerificationView.as_view(), name="email-verification"),
    path("api-keys", views.ApiKeyListView.as_view(), name="api-keys"),
    path("api-keys/<str:key_id>", views.ApiKeyDetailView.as_view(), name="api-key"),
    path("provider-keys", views.ProviderKeyListView.as_view(), name="provider-keys"),
    path(
        "provider-keys/<str:provider>", views.ProviderKeyDetailView.as_view(), name="provider-key"
    ),
]
