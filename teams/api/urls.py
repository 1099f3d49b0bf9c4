from django.urls import path

from teams.api import views

app_name = "teams"
org = "teams/<str:organisation_id>"
urlpatterns = [
    path("teams", views.OrganisationCollectionView.as_view(), name="collection"),
    path("teams/invitations/accept", views.InvitationAcceptView.as_view(), name="accept"),
    path(org, views.OrganisationDetailView.as_view(), name="detail"),
    path(f"{org}/membership", views.MembershipView.as_view(), name="membership"),
    path(f"{org}/seats", views.SeatsView.as_view(), name="seats"),
    path(f"{org}/members", views.MemberCollectionView.as_view(), name="members"),
    path(f"{org}/members/<str:user_id>", views.MemberDetailView.as_view(), name="member"),
    path(f"{org}/invitations", views.InvitationCollectionView.as_view(), name="invitations"),
    path(
        f"{org}/invitations/<str:invitation_id>",
        views.InvitationDetailView.as_view(),
        name="invitation",
    ),
    path(f"{org}/audit", views.AuditView.as_view(), name="audit"),
    path(f"{org}/sso", views.SsoView.as_view(), name="sso"),
    path(f"{org}/domains", views.DomainCollectionView.as_view(), name="domains"),
    path(
        f"{org}/domains/<str:domain_id>/verify",
        views.DomainVerifyView.as_view(),
        name="domain-verify",
    ),
]
