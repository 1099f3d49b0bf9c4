"""How the OpenAPI schema describes mem0's way to send the API key."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class Mem0TokenScheme(OpenApiAuthenticationExtension):
    target_class = "interop.mem0_compat.authentication.Mem0TokenAuthentication"
    name = "mem0TokenAuth"

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "'Token egm_…' (mem0's scheme) with an Engram API key; "
            "'Bearer egm_…' and X-API-Key work too.",
        }
