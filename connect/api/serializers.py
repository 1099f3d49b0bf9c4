import unicodedata

from rest_framework import serializers

from core.api import InputSerializer

DEFAULT_CLIENT_NAME = "Engram browser extension"


class ConnectRequestInput(InputSerializer):
    client_name = serializers.CharField(
        max_length=60,
        default=DEFAULT_CLIENT_NAME,
        help_text="Shown to the user on the approval page and in the API key's name "
        "(control and format characters left out).",
    )

    def validate_client_name(self, value: str) -> str:
        # Anyone may ask, and the name is shown to a person deciding: control and format
        # characters, which could turn the page's sentence around (U+202E) or hide text, are
        # left out.
        visible = "".join(c for c in value if unicodedata.category(c) not in ("Cc", "Cf"))
        return visible.strip() or DEFAULT_CLIENT_NAME


class ConnectRequestOutput(serializers.Serializer):
    request_id = serializers.UUIDField()
    user_code = serializers.CharField(help_text="Show it; the approval page shows the same.")
    approval_url = serializers.URLField(help_text="Open it in the user's browser.")
    poll_secret = serializers.CharField(help_text="Keep it; poll the token endpoint with it.")
    expires_in = serializers.IntegerField(help_text="Seconds until the request expires.")
    interval = serializers.IntegerField(help_text="Seconds to wait between polls.")


class ConnectPollInput(InputSerializer):
    poll_secret = serializers.CharField(max_length=200)


class ConnectPendingOutput(serializers.Serializer):
    status = serializers.ChoiceField(choices=["pending"])
    expires_in = serializers.IntegerField()
    interval = serializers.IntegerField()


class ConnectKeyOutput(serializers.Serializer):
    status = serializers.ChoiceField(choices=["approved"])
    api_key = serializers.CharField(help_text="Shown this once; send it as X-API-Key.")
    key_id = serializers.UUIDField(help_text="The key's id in the account's API keys.")
    scopes = serializers.ListField(child=serializers.CharField())
    email = serializers.EmailField(help_text="The account the key belongs to.")
