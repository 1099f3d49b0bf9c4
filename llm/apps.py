from django.apps import AppConfig


class LlmConfig(AppConfig):
    name = "llm"
    verbose_name = "LLM access"

    def ready(self) -> None:
        from django.core import checks

        from core.errors import error_status_register
        from llm.catalog import check_catalog
        from providers.llm import errors

        checks.register(check_catalog)
        # What each provider error means to our API. Not 401 for a refused key: the caller's own
        # Engram credentials are fine, and a 401 would make clients sign the user out.
        error_status_register(errors.ProviderError, 502)
        error_status_register(errors.ProviderUnavailable, 503)
        error_status_register(errors.ProviderAuthFailed, 502)
        error_status_register(errors.ContextTooLong, 400)
        error_status_register(errors.ProviderAddressRefused, 400)
        error_status_register(errors.RateLimitedUpstream, 429)
