from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Agents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers Engram's agents (and so their tools) once the apps are loaded.
        from agents import builtin  # noqa: F401
