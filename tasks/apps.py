from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "tasks"

    def ready(self) -> None:
        # Registers the tasks, which the beat schedule names (config/settings.py).
        from tasks import tasks  # noqa: F401
