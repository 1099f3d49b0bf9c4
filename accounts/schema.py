"""How the OpenAPI schema describes our two ways to authenticate."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class JWTScheme(SimpleJWTScheme):
    target_class = "accounts.authentication.JWTAuthentication"
    name = "jwtAuth"


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "apiKeyAuth"

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": "A personal API key (egm_…); also accepted as 'Authorization: Bearer'.",
        }
