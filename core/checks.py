"""Deployment checks of our own (`manage.py check --deploy`)."""

from django.conf import settings
from django.core.checks import Error, Tags, register

# Keys that were once published (in this repository's history): whoever has read them can sign
# sessions and JWTs.
PUBLISHED_SECRET_KEYS = frozenset({"dev-only-insecure-key-0f3c8e1a6b9d4c2e8f7a5b3c1d9e7f6a"})
# Django's own measure of a strong key (security.W009), made an error: a weak key forges tokens.
MIN_SECRET_KEY_LENGTH = 50
MIN_SECRET_KEY_UNIQUE_CHARACTERS = 5


def _weakness(key: str) -> str | None:
    if key in PUBLISHED_SECRET_KEYS:
        return "is a published key"
    if len(key) < MIN_SECRET_KEY_LENGTH or len(set(key)) < MIN_SECRET_KEY_UNIQUE_CHARACTERS:
        return f"is shorter than {MIN_SECRET_KEY_LENGTH} characters or too repetitive"
    return None


@register(Tags.security, deploy=True)
def check_signing_keys(app_configs, **kwargs) -> list[Error]:
    """SECRET_KEY and the JWT signing key must be this installation's own, long and random."""
    keys = {
        "SECRET_KEY": settings.SECRET_KEY,
        "JWT_SIGNING_KEY": settings.SIMPLE_JWT["SIGNING_KEY"],
    }
    errors = []
    for name, key in keys.items():
        if weakness := _weakness(key):
            errors.append(
                Error(
                    f"{name} {weakness}: anyone who knows it can forge sign-ins.",
                    hint="Unset it (a random key is made in ENGRAM_DATA_DIR) or set a random "
                    "one of 50+ characters, e.g. `python -c 'import secrets; "
                    "print(secrets.token_urlsafe(50))'`.",
                    id="core.E001",
                )
            )
    return errors
