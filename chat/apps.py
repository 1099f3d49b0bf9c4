from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"

    def ready(self) -> None:
        from django.core import checks

        from chat.catalog import check_catalog

        checks.register(check_catalog)
