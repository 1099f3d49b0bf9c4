from django.apps import AppConfig


class LlmConfig(AppConfig):
    name = "llm"
    verbose_name = "LLM access"

    def ready(self) -> None:
        from django.core import checks

        from llm.catalog import check_catalog

        checks.register(check_catalog)
