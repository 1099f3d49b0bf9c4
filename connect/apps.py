from django.apps import AppConfig


class ConnectConfig(AppConfig):
    """Connecting a client (the browser extension) to an account without pasting a key."""

    name = "connect"
