"""The catalog: loading and merging its files, availability and why not, credentials, costs."""

from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured

from core.errors import ValidationFailed
from llm.catalog import (
    KeySource,
    ModelUnavailable,
    UnavailableReason,
    UnknownModel,
    check_catalog,
    get_catalog,
)
from providers.llm.types import Usage


def configure(settings, **providers):
    """settings.LLM_PROVIDERS with the given providers' fields changed."""
    merged = {name: dict(fields) for name, fields in settings.LLM_PROVIDERS.items()}
    for name, fields in providers.items():
        merged[name].update(fields)
    settings.LLM_PROVIDERS = merged


@dataclass
class UserKey:
    api_key: str
    base_url: str = ""


def test_the_builtin_catalog_loads_every_provider_and_model():
    catalog = get_catalog()

    assert {"openai", "anthropic", "google", "xai", "openrouter", "ollama", "custom"} <= set(
        catalog.providers
    )
    mini = catalog.get("gpt-4o-mini")
    assert (mini.provider, mini.context_length, mini.api_key_required) == ("openai", 128000, True)
    assert (mini.input_price, mini.output_price) == (Decimal("0.15"), Decimal("0.60"))
    assert catalog.get("meta-llama/llama-3.1-8b-instruct").provider == "openrouter"
    local = catalog.get("llama3.1:8b")
    assert local.local and local.requires_loading and not local.api_key_required
    assert check_catalog() == []


def test_an_unknown_model_is_a_404():
    with pytest.raises(UnknownModel) as caught:
        get_catalog().get("gpt-9")

    assert caught.value.status_code == 404 and caught.value.code == "NOT_FOUND"


def test_the_server_key_serves_only_the_models_it_lists(settings):
    configure(settings, openai={"api_key": "sk-server", "models": ["gpt-4o-mini"]})
    catalog = get_catalog()

    served = catalog.availability(catalog.get("gpt-4o-mini"))
    not_served = catalog.availability(catalog.get("gpt-4o"))

    assert (served.available, served.key_source) == (True, KeySource.SERVER)
    assert not not_served.available
    assert not_served.reason == UnavailableReason.API_KEY_REQUIRED
    assert "OpenAI API key" in not_served.message


def test_without_a_server_key_a_users_own_key_makes_a_model_available(settings):
    configure(settings, anthropic={"api_key": ""})
    catalog = get_catalog()
    claude = catalog.get("claude-haiku-4-5")

    without = catalog.availability(claude)
    with_key = catalog.availability(claude, user_key_providers={"anthropic"})

    assert (without.available, without.reason) == (False, UnavailableReason.API_KEY_REQUIRED)
    assert (with_key.available, with_key.key_source) == (True, KeySource.USER)


def test_a_server_key_serves_all_its_providers_models_by_default(settings):
    configure(settings, xai={"api_key": "xai-server", "models": ["*"]})
    catalog = get_catalog()

    assert all(
        catalog.availability(m).key_source == KeySource.SERVER
        for m in catalog.all()
        if m.provider == "xai"
    )


def test_local_models_need_ollama_configured_and_no_key(settings):
    configure(settings, ollama={"base_url": ""})
    unconfigured = get_catalog().availability(get_catalog().get("llama3.1:8b"))
    configure(settings, ollama={"base_url": "http://127.0.0.1:11434"})
    configured = get_catalog().availability(get_catalog().get("llama3.1:8b"))

    assert unconfigured.reason == UnavailableReason.PROVIDER_NOT_CONFIGURED
    assert "Ollama" in unconfigured.message
    assert (configured.available, configured.key_source) == (True, KeySource.NONE)


def test_pointing_openai_at_another_server_serves_its_models_with_defaults(settings):
    configure(
        settings,
        openai={
            "base_url": "http://vllm.internal:8000/v1",
            "api_key": "anything",
            "models": ["meta-llama/Llama-3.1-8B-Instruct", "gpt-4o-mini"],
        },
    )
    settings.LLM_DEFAULT_CONTEXT_LENGTH = 32768
    catalog = get_catalog()

    model = catalog.get("meta-llama/Llama-3.1-8B-Instruct")

    assert (model.provider, model.context_length, model.priced) == ("openai", 32768, False)
    assert catalog.availability(model).key_source == KeySource.SERVER
    credentials = catalog.credentials_for(model)
    assert credentials.base_url == "http://vllm.internal:8000/v1"
    assert credentials.api_key == "anything"


def test_credentials_prefer_the_users_key_then_the_servers(settings):
    configure(settings, openai={"api_key": "sk-server", "models": ["gpt-4o-mini"]})
    catalog = get_catalog()
    mini, big = catalog.get("gpt-4o-mini"), catalog.get("gpt-4o")

    mine = catalog.credentials_for(big, user_key=UserKey("sk-mine"))
    servers = catalog.credentials_for(mini)

    assert (mine.provider, mine.base_url, mine.api_key) == (
        "openai",
        "https://api.openai.com/v1",
        "sk-mine",
    )
    assert servers.api_key == "sk-server"
    assert not mine.base_url_from_user and not servers.base_url_from_user
    with pytest.raises(ModelUnavailable) as caught:
        catalog.credentials_for(big)
    assert caught.value.code == "MODEL_UNAVAILABLE"
    assert caught.value.details == {"model": "gpt-4o", "reason": "api_key_required"}


def test_a_custom_key_brings_its_own_base_url(settings, tmp_path):
    override = tmp_path / "catalog.toml"
    override.write_text(
        '[[models]]\nid = "my-model"\nname = "Mine"\nprovider = "custom"\ncontext_length = 8192\n'
    )
    settings.LLM_CATALOG_FILE = str(override)
    catalog = get_catalog()

    credentials = catalog.credentials_for(
        catalog.get("my-model"), user_key=UserKey("sk-c", "http://mine:1234/v1")
    )

    assert (credentials.provider, credentials.base_url) == ("custom", "http://mine:1234/v1")
    # The gateway connects to a user's URL only at addresses off the server's own network.
    assert credentials.base_url_from_user


def test_ollama_is_reached_at_its_v1_path_without_a_key(settings):
    configure(settings, ollama={"base_url": "http://127.0.0.1:11434/"})
    catalog = get_catalog()

    credentials = catalog.credentials_for(catalog.get("llama3.1:8b"))

    assert (credentials.base_url, credentials.api_key) == ("http://127.0.0.1:11434/v1", "")
    assert not credentials.base_url_from_user  # the operator's own URL


def test_an_override_file_changes_adds_and_hides_models(settings, tmp_path):
    override = tmp_path / "catalog.toml"
    override.write_text(
        """
[[models]]
id = "gpt-4o-mini"
price_input = 0.1

[[models]]
id = "gpt-4o"
enabled = false

[[models]]
id = "mistral:7b"
name = "Mistral 7B (local)"
provider = "ollama"
context_length = 8192
max_output_tokens = 2048
temperature = { min = 0.0, max = 1.0, default = 0.3 }
"""
    )
    settings.LLM_CATALOG_FILE = str(override)
    catalog = get_catalog()

    mini = catalog.get("gpt-4o-mini")
    assert (mini.input_price, mini.output_price, mini.name) == (
        Decimal("0.1"),
        Decimal("0.60"),
        "GPT-4o mini",
    )
    assert "gpt-4o" not in catalog.models
    mistral = catalog.get("mistral:7b")
    assert mistral.local and mistral.temperature.default == 0.3


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        ('id = "x"\nname = "X"\nprovider = "nowhere"\ncontext_length = 8192', "unknown provider"),
        ('id = "x"\nname = "X"\nprovider = "openai"', "'x' is not valid"),
        (
            'id = "x"\nname = "X"\nprovider = "openai"\ncontext_length = 8192\n'
            "temperature = { min = 1.0, max = 0.5, default = 0.7 }",
            "'x' is not valid",
        ),
    ],
)
def test_a_broken_override_names_the_entry(settings, tmp_path, entry, complaint):
    override = tmp_path / "catalog.toml"
    override.write_text(f"[[models]]\n{entry}\n")
    settings.LLM_CATALOG_FILE = str(override)

    with pytest.raises(ImproperlyConfigured, match=complaint):
        get_catalog()
    assert [error.id for error in check_catalog()] == ["chat.E001"]


def test_an_unreadable_override_is_reported(settings, tmp_path):
    settings.LLM_CATALOG_FILE = str(tmp_path / "missing.toml")

    with pytest.raises(ImproperlyConfigured, match="Cannot read the model catalog"):
        get_catalog()


def test_cost_is_estimated_from_the_prices():
    mini = get_catalog().get("gpt-4o-mini")

    cost = mini.estimate_cost(Usage(prompt_tokens=1_000_000, completion_tokens=500_000))

    assert cost == Decimal("0.450000")
    assert mini.estimate_cost(Usage(prompt_tokens=1234, completion_tokens=56)) == Decimal(
        "0.000219"
    )


def test_an_unpriced_model_has_no_cost(settings):
    configure(settings, openai={"models": ["house-model"]})

    assert get_catalog().get("house-model").estimate_cost(Usage(10, 10)) is None


def test_temperature_is_checked_against_the_models_range():
    claude = get_catalog().get("claude-haiku-4-5")

    assert claude.resolve_temperature(None) == 0.7
    assert claude.resolve_temperature(1.0) == 1.0
    with pytest.raises(ValidationFailed) as caught:
        claude.resolve_temperature(1.5)
    assert "between 0.0 and 1.0" in caught.value.details["temperature"][0]
