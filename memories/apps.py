from django.apps import AppConfig


class MemoriesConfig(AppConfig):
    name = "memories"

    def ready(self) -> None:
        # Registers the tasks, which services enqueue by name (core.tasks.enqueue_after_commit).
        from memories import tasks  # noqa: F401
