"""The model catalog: which models Engram offers, from which provider, at what price, and whether
a given user can use one right now.

The catalog is data: ``llm/model_catalog.toml``, with the operator's ``LLM_CATALOG_FILE`` merged
over it (its header says how). Providers' base URLs and the server's keys come from
``settings.LLM_PROVIDERS``; a model listed in a provider's ``models`` setting that the catalog
does not know is added with default values, so pointing ``OPENAI_BASE_URL`` at any
OpenAI-compatible server and naming its models in ``OPENAI_MODELS`` is enough.

A model is available to a user when its provider is configured and a key is at hand: the
user's own key for that provider, else the server's key when the server serves that model, or
none when the provider needs none (local models).
"""

import functools
import logging
import tomllib
from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

from core.errors import EngramError, ErrorCode, NotFound, ValidationFailed
from providers.llm.types import LLMCredentials, Usage

logger = logging.getLogger(__name__)

BUILTIN_CATALOG = Path(__file__).with_name("model_catalog.toml")
DEFAULT_MAX_OUTPUT_TOKENS = 4096
DEFAULT_CAPABILITIES = ("chat", "streaming")
MILLION = Decimal(1_000_000)
COST_PRECISION = Decimal("0.000001")  # USD


class UnknownModel(NotFound):
    default_message = "No model with this id."


class ModelUnavailable(EngramError):
    """The model exists but this user cannot use it now; details say why."""

    status_code = 400
    code = ErrorCode.MODEL_UNAVAILABLE
    default_message = "This model is not available to you."


class UnavailableReason(StrEnum):
    PROVIDER_NOT_CONFIGURED = "provider_not_configured"  # no base URL in the settings
    API_KEY_REQUIRED = "api_key_required"  # neither the user nor the server has a key for it
    PROVIDER_UNREACHABLE = "provider_unreachable"  # only from status checks that call it


class KeySource(StrEnum):
    USER = "user"  # the user's own provider key
    SERVER = "server"  # the server's key from settings
    NONE = "none"  # the provider needs no key


class UserProviderKey(Protocol):
    """A user's decrypted provider key (accounts.services.ProviderCredentials fits)."""

    api_key: str
    base_url: str


@dataclass(frozen=True)
class TemperatureRange:
    min: float
    max: float
    default: float


@dataclass(frozen=True)
class ProviderSpec:
    id: str
    name: str
    api_key_required: bool
    kind: str = "openai"  # or "ollama"
    base_url: str = ""
    server_api_key: str = field(default="", repr=False)
    # Model ids the server's key may be used for; None: all of this provider's models.
    served_models: frozenset[str] | None = None
    # Its models list (GET <base>/models) tells a good key from a bad one: checked on save.
    key_check: bool = False

    @property
    def configured(self) -> bool:
        return bool(self.base_url)

    @property
    def local(self) -> bool:
        return self.kind == "ollama"

    @property
    def chat_base_url(self) -> str:
        """Where its OpenAI-compatible API is (Ollama's is under /v1 of its own URL)."""
        return f"{self.base_url.rstrip('/')}/v1" if self.local else self.base_url

    def serves(self, model_id: str) -> bool:
        return self.served_models is None or model_id in self.served_models


@dataclass(frozen=True)
class ModelSpec:
    id: str
    name: str
    provider: str
    context_length: int
    temperature: TemperatureRange
    api_key_required: bool
    local: bool
    upstream_id: str = ""
    description: str = ""
    max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS
    capabilities: tuple[str, ...] = DEFAULT_CAPABILITIES
    input_price: Decimal | None = None  # USD per million tokens
    output_price: Decimal | None = None

    @property
    def requires_loading(self) -> bool:
        return self.local

    @property
    def priced(self) -> bool:
        return self.input_price is not None and self.output_price is not None

    def resolve_temperature(self, value: float | None) -> float:
        """``value`` when it is within the model's range, the model's default when None;
        otherwise ValidationFailed with details on ``temperature``."""
        if value is None:
            return self.temperature.default
        if not self.temperature.min <= value <= self.temperature.max:
            raise ValidationFailed(
                details={
                    "temperature": [
                        f"{self.name} accepts a temperature between {self.temperature.min} "
                        f"and {self.temperature.max}."
                    ]
                }
            )
        return value

    def estimate_cost(self, usage: Usage) -> Decimal | None:
        """What ``usage`` costs in USD at the catalog's prices, or None when they are unknown."""
        if not self.priced:
            return None
        assert self.input_price is not None and self.output_price is not None
        cost = (
            usage.prompt_tokens * self.input_price + usage.completion_tokens * self.output_price
        ) / MILLION
        return cost.quantize(COST_PRECISION)


@dataclass(frozen=True)
class Availability:
    available: bool
    key_source: KeySource | None = None
    reason: UnavailableReason | None = None
    message: str = ""


@dataclass(frozen=True)
class Catalog:
    providers: Mapping[str, ProviderSpec]
    models: Mapping[str, ModelSpec]  # in catalog order

    def get(self, model_id: str) -> ModelSpec:
        """The model ``model_id``, or UnknownModel (a 404 in the error shape)."""
        try:
            return self.models[model_id]
        except KeyError:
            raise UnknownModel(f"No model with id '{model_id}'.") from None

    def all(self) -> list[ModelSpec]:
        return list(self.models.values())

    def provider_of(self, model: ModelSpec) -> ProviderSpec:
        return self.providers[model.provider]

    def availability(
        self, model: ModelSpec, *, user_key_providers: Container[str] = ()
    ) -> Availability:
        """Whether a user holding their own keys for ``user_key_providers`` may use ``model``.

        Checks configuration only; it does not call the provider (a local model that is not
        pulled yet is available here, and its status says ``not_loaded``).
        """
        provider = self.provider_of(model)
        if model.provider in user_key_providers:
            return Availability(True, KeySource.USER)
        if not provider.configured:
            return Availability(
                False,
                reason=UnavailableReason.PROVIDER_NOT_CONFIGURED,
                message=f"{provider.name} is not configured on this server.",
            )
        if provider.server_api_key and provider.serves(model.id):
            return Availability(True, KeySource.SERVER)
        if not model.api_key_required:
            return Availability(True, KeySource.NONE)
        return Availability(
            False,
            reason=UnavailableReason.API_KEY_REQUIRED,
            message=f"Add your own {provider.name} API key to use {model.name}.",
        )

    def credentials_for(
        self, model: ModelSpec, *, user_key: UserProviderKey | None = None
    ) -> LLMCredentials:
        """Where to send a request for ``model`` and with which key: the user's own key (and
        its base URL, if it has one) when given, else the server's. Raises ModelUnavailable
        when there is neither."""
        provider = self.provider_of(model)
        if user_key is not None and user_key.api_key:
            base_url = user_key.base_url or provider.chat_base_url
            if base_url:
                return LLMCredentials(
                    provider.id,
                    base_url,
                    user_key.api_key,
                    base_url_from_user=bool(user_key.base_url),
                )
        availability = self.availability(model)
        if not availability.available:
            assert availability.reason is not None
            raise ModelUnavailable(
                availability.message,
                details={"model": model.id, "reason": availability.reason.value},
            )
        api_key = provider.server_api_key if availability.key_source == KeySource.SERVER else ""
        return LLMCredentials(provider.id, provider.chat_base_url, api_key)


# --- loading -------------------------------------------------------------------------------


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` over ``base``: providers field by field, models by id (see the TOML)."""
    providers = {name: dict(fields) for name, fields in base.get("providers", {}).items()}
    for name, fields in override.get("providers", {}).items():
        providers.setdefault(name, {}).update(fields)
    models = {entry.get("id"): dict(entry) for entry in base.get("models", [])}
    for entry in override.get("models", []):
        models.setdefault(entry.get("id"), {}).update(entry)
    return {"providers": providers, "models": list(models.values())}


def _price(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _provider_spec(name: str, fields: Mapping[str, Any], config: Mapping[str, Any]) -> ProviderSpec:
    served = [m for m in config.get("models", ["*"]) if m]
    return ProviderSpec(
        id=name,
        name=str(fields.get("name", name)),
        api_key_required=bool(fields.get("api_key_required", True)),
        kind=str(fields.get("kind", "openai")),
        base_url=str(config.get("base_url") or ""),
        server_api_key=str(config.get("api_key") or ""),
        served_models=None if "*" in served else frozenset(served),
        key_check=bool(fields.get("key_check", False)),
    )


def _model_spec(entry: Mapping[str, Any], provider: ProviderSpec) -> ModelSpec:
    temperature = entry.get("temperature", {})
    spec = ModelSpec(
        id=str(entry["id"]),
        name=str(entry["name"]),
        provider=provider.id,
        upstream_id=str(entry.get("upstream_id") or entry["id"]),
        description=str(entry.get("description", "")),
        context_length=int(entry["context_length"]),
        max_output_tokens=int(entry.get("max_output_tokens", DEFAULT_MAX_OUTPUT_TOKENS)),
        capabilities=tuple(entry.get("capabilities", DEFAULT_CAPABILITIES)),
        input_price=_price(entry.get("price_input")),
        output_price=_price(entry.get("price_output")),
        temperature=TemperatureRange(
            min=float(temperature.get("min", 0.0)),
            max=float(temperature.get("max", 2.0)),
            default=float(temperature.get("default", 0.7)),
        ),
        api_key_required=bool(entry.get("api_key_required", provider.api_key_required)),
        local=provider.local,
    )
    t = spec.temperature
    if not t.min <= t.default <= t.max:
        raise ValueError("temperature needs min <= default <= max")
    if spec.context_length <= spec.max_output_tokens:
        raise ValueError("context_length must exceed max_output_tokens")
    return spec


def build_catalog(
    data: Mapping[str, Any],
    provider_settings: Mapping[str, Mapping[str, Any]],
    *,
    default_context_length: int,
    source: str = "the model catalog",
) -> Catalog:
    """A Catalog from merged catalog data and ``settings.LLM_PROVIDERS``-shaped configuration.

    Raises ImproperlyConfigured naming the entry at fault.
    """
    providers = {
        name: _provider_spec(name, fields, provider_settings.get(name, {}))
        for name, fields in data.get("providers", {}).items()
    }
    models: dict[str, ModelSpec] = {}
    for entry in data.get("models", []):
        model_id = entry.get("id")
        if entry.get("enabled", True) is False:
            continue
        provider = providers.get(entry.get("provider", ""))
        if provider is None:
            raise ImproperlyConfigured(
                f"{source}: model {model_id!r} names unknown provider {entry.get('provider')!r}."
            )
        try:
            models[model_id] = _model_spec(entry, provider)
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise ImproperlyConfigured(f"{source}: model {model_id!r} is not valid: {exc}") from exc
    for provider in providers.values():
        for model_id in sorted(provider.served_models or ()):
            known = models.get(model_id)
            if known is None:
                models[model_id] = ModelSpec(
                    id=model_id,
                    name=model_id,
                    provider=provider.id,
                    upstream_id=model_id,
                    context_length=default_context_length,
                    max_output_tokens=min(DEFAULT_MAX_OUTPUT_TOKENS, default_context_length // 4),
                    temperature=TemperatureRange(0.0, 2.0, 0.7),
                    api_key_required=provider.api_key_required,
                    local=provider.local,
                )
            elif known.provider != provider.id:
                logger.warning(
                    "%s serves %r, but the catalog has it under %s; the catalog wins (set its "
                    "provider in LLM_CATALOG_FILE to change that).",
                    provider.name,
                    model_id,
                    known.provider,
                )
    return Catalog(providers=providers, models=models)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ImproperlyConfigured(f"Cannot read the model catalog {path}: {exc}") from exc


@functools.cache
def get_catalog() -> Catalog:
    """The catalog for the current settings (cached; rebuilt when they change in tests)."""
    data = _read_toml(BUILTIN_CATALOG)
    source = str(BUILTIN_CATALOG)
    if settings.LLM_CATALOG_FILE:
        data = _merge(data, _read_toml(Path(settings.LLM_CATALOG_FILE)))
        source = f"{source} + {settings.LLM_CATALOG_FILE}"
    return build_catalog(
        data,
        settings.LLM_PROVIDERS,
        default_context_length=settings.LLM_DEFAULT_CONTEXT_LENGTH,
        source=source,
    )


def default_model_check(*, changes: Mapping[str, Any]) -> None:
    """A person's default model must be one the catalog has: every chat that names no model
    would otherwise be a 404 (accounts' ACCOUNTS_PROFILE_CHECKS; accounts sits below llm)."""
    model_id = changes.get("default_model")
    if model_id and model_id not in get_catalog().models:
        raise ValidationFailed(details={"default_model": [f"No model with id '{model_id}'."]})


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith("LLM_"):
        get_catalog.cache_clear()


def check_catalog(app_configs: Any = None, **kwargs: Any) -> list:
    """System check: the catalog loads (``manage.py check`` and every start say so)."""
    from django.core.checks import Error

    try:
        get_catalog()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="chat.E001")]
    return []
