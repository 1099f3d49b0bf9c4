from django.apps import AppConfig


class TeamsConfig(AppConfig):
    name = "teams"

    def ready(self) -> None:
        from allauth.account.signals import user_logged_in

        from teams.sso import member_join_after_sign_in

        # Just-in-time membership after a sign-in through a team's provider (teams/sso.py).
        user_logged_in.connect(member_join_after_sign_in, dispatch_uid="teams-sso-join")
