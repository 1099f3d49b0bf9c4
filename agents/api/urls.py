from django.urls import path

from agents.api import views

app_name = "agents"

urlpatterns = [
    path("chat", views.AgentChatView.as_view(), name="chat"),
    path("agents", views.AgentListView.as_view(), name="agents"),
    path("agents/actions/confirm", views.ActionConfirmView.as_view(), name="actions-confirm"),
    path("agents/runs", views.RunListView.as_view(), name="runs"),
    path("agents/runs/<str:run_id>", views.RunDetailView.as_view(), name="run"),
    path("plans/playbook", views.PlaybookListView.as_view(), name="playbooks"),
    path("plans/playbook/<str:playbook_id>", views.PlaybookDetailView.as_view(), name="playbook"),
    path("personas", views.PersonaListView.as_view(), name="personas"),
    path("personas/<str:persona_id>", views.PersonaDetailView.as_view(), name="persona"),
]
