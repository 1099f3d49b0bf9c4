"""Which catalog models a user can use, and where a local model's loading stands."""

from dataclasses import dataclass
from enum import StrEnum

from accounts.models import User
from accounts.selectors import provider_keys_of
from core.errors import ErrorCode, ServiceUnavailable
from llm.catalog import (
    Availability,
    Catalog,
    ModelSpec,
    ProviderSpec,
    UnavailableReason,
    UnknownModel,
    get_catalog,
)
from llm.loading import LoadJob, LoadState, current_load
from providers.llm import ollama
from providers.llm.errors import ProviderUnavailable


class ModelState(StrEnum):
    AVAILABLE = "available"  # a remote model this user can use now
    UNAVAILABLE = "unavailable"  # see the reason
    NOT_LOADED = "not_loaded"  # a local model Ollama has not pulled yet
    LOADING = "loading"
    LOADED = "loaded"  # a local model ready to chat with
    ERROR = "error"  # its last load failed


MODEL_STATES = [state.value for state in ModelState]  # named in the OpenAPI schema (settings)


@dataclass(frozen=True)
class ModelListing:
    """A catalog model as one user sees it."""

    model: ModelSpec
    provider: ProviderSpec
    availability: Availability


@dataclass(frozen=True)
class ModelStatus:
    model_id: str
    state: ModelState
    availability: Availability
    job: LoadJob | None = None
    running: ollama.RunningModel | None = None  # a loaded local model Ollama holds in memory

    @property
    def error(self) -> str | None:
        return self.job.error if self.state == ModelState.ERROR and self.job else None


def user_key_providers(user: User) -> frozenset[str]:
    """The providers ``user`` has stored their own key for."""
    return frozenset(provider_keys_of(user).values_list("provider", flat=True))


def model_listings(user, *, catalog: Catalog | None = None) -> list[ModelListing]:
    """Every catalog model with whether ``user`` can use it; one query, no provider calls."""
    catalog = catalog or get_catalog()
    held = user_key_providers(user)
    return [
        ModelListing(
            model, catalog.provider_of(model), catalog.availability(model, user_key_providers=held)
        )
        for model in catalog.all()
    ]


def model_listing(user, model_id: str) -> ModelListing:
    """One model as ``user`` sees it; UnknownModel (404) when the catalog has no such id."""
    catalog = get_catalog()
    model = catalog.get(model_id)
    availability = catalog.availability(model, user_key_providers=user_key_providers(user))
    return ModelListing(model, catalog.provider_of(model), availability)


def model_usable_check(user: User, *, model_id: str, purpose: str, setting: str) -> str:
    """``model_id`` (the model the ``setting`` names for ``purpose``, e.g. "memory extraction")
    when ``user`` can use it. Raises ServiceUnavailable (503, PROVIDER_UNAVAILABLE) when they
    cannot: the server has no key for it and neither has the user, its provider is not
    configured, or the catalog does not offer it."""
    try:
        listing = model_listing(user, model_id)
    except UnknownModel:
        raise ServiceUnavailable(
            f"{purpose[:1].upper()}{purpose[1:]} is set to use the model '{model_id}', which "
            f"this server does not offer ({setting}).",
            details={"model": model_id, "reason": "unknown_model"},
            code=ErrorCode.PROVIDER_UNAVAILABLE,
        ) from None
    availability = listing.availability
    if not availability.available:
        assert availability.reason is not None
        raise ServiceUnavailable(
            f"No language model is available for {purpose}: "
            f"{availability.message} (model '{model_id}').",
            details={"model": model_id, "reason": availability.reason.value},
            code=ErrorCode.PROVIDER_UNAVAILABLE,
        )
    return model_id


def model_status(user, model_id: str) -> ModelStatus:
    """Where ``model_id`` stands for ``user``. For a local model this asks Ollama whether it
    has the model (a short request) unless a load is running."""
    listing = model_listing(user, model_id)
    return status_of(listing)


def status_of(listing: ModelListing) -> ModelStatus:
    model, availability = listing.model, listing.availability
    if not availability.available:
        return ModelStatus(model.id, ModelState.UNAVAILABLE, availability)
    if not model.local:
        return ModelStatus(model.id, ModelState.AVAILABLE, availability)
    job = current_load(model.id)
    if job is not None and job.state == LoadState.LOADING:
        return ModelStatus(model.id, ModelState.LOADING, availability, job)
    try:
        pulled = ollama.has_model(listing.provider.base_url, model.upstream_id)
    except ProviderUnavailable:
        unreachable = Availability(
            False,
            reason=UnavailableReason.PROVIDER_UNREACHABLE,
            message=f"{listing.provider.name} does not answer.",
        )
        return ModelStatus(model.id, ModelState.UNAVAILABLE, unreachable, job)
    if pulled:
        return ModelStatus(model.id, ModelState.LOADED, availability, job, _in_memory(listing))
    if job is not None and job.state == LoadState.ERROR:
        return ModelStatus(model.id, ModelState.ERROR, availability, job)
    return ModelStatus(model.id, ModelState.NOT_LOADED, availability, job)


def _in_memory(listing: ModelListing) -> ollama.RunningModel | None:
    """How Ollama holds a pulled model in memory (None when it does not, or will not say)."""
    try:
        return ollama.running_model(listing.provider.base_url, listing.model.upstream_id)
    except ProviderUnavailable:
        return None
