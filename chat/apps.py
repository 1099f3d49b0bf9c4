from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"

    def ready(self) -> None:
        # Registers the tasks, which services enqueue by name (core.tasks.enqueue_after_commit).
        from chat import tasks  # noqa: F401
