import unicodedata

from rest_framework import serializers

from core.api import InputSerializer


class ConnectRequestInput(InputSerializer):
    client_name = serializers.CharField(
        max_length=60,
        default="Engram browser extension",
        help_text="Shown to the user on the approval page and in the API key's name.",
    )

    def validate_client_name(self, value: str) -> str:
        # Anyone may ask, and the name is shown to a person deciding: no control or format
        # characters, which could turn the page's sentence around (U+202E) or hide text.
        if any(unicodedata.category(char) in ("Cc", "Cf", "Co", "Cn") for char in value):
            raise serializers.ValidationError("Only visible characters and spaces.")
        return value


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
