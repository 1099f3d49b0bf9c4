"""Who a mem0 client is: mem0's ``Authorization: Token <key>`` with an Engram API key."""

from rest_framework.request import Request

from accounts.authentication import ApiKeyAuthentication, api_key_secret


def mem0_key_secret(x_api_key: str | None, authorization: str | None) -> str | None:
    """The API key a mem0 client sends, from its ``X-API-Key`` or ``Authorization`` header
    values: ``Token <key>`` (mem0's), else Engram's own ``X-API-Key`` or ``Bearer egm_…``."""
    parts = (authorization or "").split()
    if len(parts) == 2 and parts[0].lower() == "token":
        return parts[1]
    return api_key_secret(x_api_key, authorization)


class Mem0TokenAuthentication(ApiKeyAuthentication):
    """mem0's ``Authorization: Token <key>`` with an Engram API key; ``Bearer egm_…`` and
    ``X-API-Key`` work too."""

    key_secret = staticmethod(mem0_key_secret)

    def authenticate_header(self, request: Request) -> str:
        return 'Token realm="mem0"'
