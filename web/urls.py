"""The web app's pages (docs/web.md). The paths under /account/ are those allauth's mails link
to (HEADLESS_FRONTEND_URLS in config/settings.py)."""

from django.urls import path

from web.views import account, account_data, account_settings, chat, connect, memories, teams

app_name = "web"
urlpatterns = [
    path("", account.home, name="home"),
    path("account/", account_settings.account, name="account"),
    path("account/profile", account_settings.profile_change, name="account-profile"),
    path("account/email", account_settings.email_change, name="account-email"),
    path("account/password", account_settings.password_change, name="account-password"),
    path("account/delete", account_settings.account_deletion, name="account-delete"),
    path(
        "account/two-factor",
        account_settings.second_factor_change,
        name="account-second-factor",
    ),
    path(
        "account/providers/<str:account_id>/unlink",
        account_settings.linked_account_unlink,
        name="account-unlink",
    ),
    path("account/signup", account.sign_up, name="sign-up"),
    path("account/login", account.sign_in, name="sign-in"),
    path("account/logout", account.sign_out, name="sign-out"),
    path("account/provider/done", account.provider_sign_in_done, name="provider-done"),
    path("account/provider/callback", account.provider_sign_in_failed, name="provider-failed"),
    path("account/password/reset", account.password_forgot, name="password-forgot"),
    path("account/password/reset/<str:key>", account.password_reset, name="password-reset"),
    # Before the link's page: "send" is not a key.
    path(
        "account/verify-email/send",
        account.email_verification_resend,
        name="email-verification-send",
    ),
    path("account/verify-email/<str:key>", account.email_verify, name="email-verify"),
    path("memories/", memories.memory_list, name="memories"),
    path("memories/new", memories.memory_add, name="memory-add"),
    path("memories/export", memories.memory_export, name="memory-export"),
    path("memories/import", memories.memory_import, name="memory-import"),
    path("memories/import/progress", memories.memory_progress, name="memory-progress"),
    path("memories/forget", memories.memory_forget, name="memory-forget"),
    path("memories/<str:memory_id>/", memories.memory_detail, name="memory"),
    path("memories/<str:memory_id>/revert", memories.memory_revert, name="memory-revert"),
    path("memories/<str:memory_id>/delete", memories.memory_delete, name="memory-delete"),
    path("memories/<str:memory_id>/undo", memories.memory_undelete, name="memory-undelete"),
    path("chat/", chat.thread_list, name="chat"),
    path("chat/new", chat.thread_new, name="thread-new"),
    path("chat/<str:thread_id>/", chat.thread_detail, name="thread"),
    path("chat/<str:thread_id>/send", chat.thread_send, name="thread-send"),
    path(
        "chat/<str:thread_id>/answers/<str:message_id>/text",
        chat.answer_text,
        name="answer-text",
    ),
    path(
        "chat/<str:thread_id>/answers/<str:message_id>/memories",
        chat.answer_memories,
        name="answer-memories",
    ),
    path("connect/", connect.connect, name="connect"),
    path("connect/keys", connect.api_key_create, name="api-key-create"),
    path("connect/keys/<str:key_id>/revoke", connect.api_key_revoke, name="api-key-revoke"),
    path("connect/provider-keys", connect.provider_key_save, name="provider-key-save"),
    path(
        "connect/provider-keys/<str:provider>/delete",
        connect.provider_key_delete,
        name="provider-key-delete",
    ),
    path("me/", account_data.knows, name="knows"),
    path("teams/", teams.organisation_list, name="teams"),
    path("teams/new", teams.organisation_new, name="team-new"),
    path("teams/invitations/accept", teams.invitation_accept, name="invitation-accept"),
    path("teams/<str:organisation_id>/", teams.organisation_detail, name="team"),
    path("teams/<str:organisation_id>/invite", teams.invitation_new, name="team-invite"),
    path(
        "teams/<str:organisation_id>/invitations/<str:invitation_id>/revoke",
        teams.invitation_revoke,
        name="team-invitation-revoke",
    ),
    path(
        "teams/<str:organisation_id>/members/<str:member_id>/remove",
        teams.member_remove,
        name="team-member-remove",
    ),
    path(
        "teams/<str:organisation_id>/members/<str:member_id>/role",
        teams.member_role,
        name="team-member-role",
    ),
    path("teams/<str:organisation_id>/search", teams.search_inclusion, name="team-search"),
    path("teams/<str:organisation_id>/leave", teams.organisation_leave, name="team-leave"),
    path("teams/<str:organisation_id>/delete", teams.organisation_deletion, name="team-delete"),
    path("plan/", account_data.plan, name="plan"),
    path("plan/checkout", account_data.checkout, name="checkout"),
    path("plan/portal", account_data.portal, name="portal"),
]
