"""Which key a request for a user goes upstream with: the user's own, else the server's."""

from dataclasses import dataclass

from accounts.models import User
from accounts.services import provider_credentials
from llm.catalog import ModelSpec, get_catalog
from providers.llm import LLMCredentials


@dataclass(frozen=True)
class ResolvedModel:
    """A catalog model and the credentials ``user`` reaches it with."""

    model: ModelSpec
    credentials: LLMCredentials


def model_resolve(*, user: User, model_id: str) -> ResolvedModel:
    """The catalog model ``model_id`` and where to send ``user``'s request for it.

    Raises UnknownModel for an id the catalog lacks and ModelUnavailable when neither the user
    nor the server holds a key for its provider. Marks the user's key as used.
    """
    catalog = get_catalog()
    model = catalog.get(model_id)
    user_key = provider_credentials(user=user, provider=model.provider)
    return ResolvedModel(model, catalog.credentials_for(model, user_key=user_key))
