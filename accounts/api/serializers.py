from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts import social
from accounts.models import SYSTEM_PROMPT_MAX_CHARS, ApiScope, Provider
from core.schema import SPACE

# --- Input ---------------------------------------------------------------------------------------


class RegisterInput(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, trim_whitespace=False)
    display_name = serializers.CharField(max_length=150, required=False, default="")


class LoginInput(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, trim_whitespace=False)
    code = serializers.CharField(
        max_length=64,
        required=False,
        default="",
        help_text="With a second factor on: a code from the authenticator app, or a recovery "
        "code (each works once).",
    )


class RefreshInput(serializers.Serializer):
    refresh = serializers.CharField(max_length=4096)


class PasswordChangeInput(serializers.Serializer):
    old_password = serializers.CharField(max_length=128, trim_whitespace=False)
    new_password = serializers.CharField(max_length=128, trim_whitespace=False)


class EmailChangeInput(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class ProfileUpdateInput(serializers.Serializer):
    display_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    default_model = serializers.CharField(max_length=200, required=False, allow_blank=True)
    default_temperature = serializers.FloatField(min_value=0.0, max_value=2.0, required=False)
    system_prompt = serializers.CharField(
        max_length=SYSTEM_PROMPT_MAX_CHARS, required=False, allow_blank=True, trim_whitespace=False
    )
    memory_enabled = serializers.BooleanField(required=False)
    auto_extract = serializers.BooleanField(required=False)
    save_chat_memories = serializers.BooleanField(required=False)


class ApiKeyCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=ApiScope.choices),
        min_length=1,
        max_length=len(ApiScope),
    )


# 8 to 500 characters, none a space; a key pasted with a line end around it is trimmed.
API_KEY_PATTERN = rf"^[{SPACE}]*[^{SPACE}\x00]{{8,500}}[{SPACE}]*$"


@extend_schema_field({"type": "string", "pattern": API_KEY_PATTERN})
class ApiKeyField(serializers.CharField):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(min_length=8, max_length=500, **kwargs)

    def to_internal_value(self, data: object) -> str:
        value = super().to_internal_value(data)
        if any(char.isspace() for char in value):
            raise serializers.ValidationError("An API key has no spaces.")
        return value


class ProviderKeyInput(serializers.Serializer):
    api_key = ApiKeyField()
    base_url = serializers.URLField(max_length=500, required=False, default="")


# --- Output --------------------------------------------------------------------------------------


class UserOutput(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.EmailField()
    display_name = serializers.CharField()
    tier = serializers.CharField()
    date_joined = serializers.DateTimeField()
    default_model = serializers.CharField()
    default_temperature = serializers.FloatField()
    system_prompt = serializers.CharField()
    memory_enabled = serializers.BooleanField()
    auto_extract = serializers.BooleanField()
    save_chat_memories = serializers.BooleanField()


class TokenPairOutput(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    expires_in = serializers.IntegerField(help_text="Seconds until the access token expires.")
    expires_at = serializers.DateTimeField(
        source="access_expires_at", help_text="When the access token expires."
    )


class SessionOutput(TokenPairOutput):
    user = UserOutput()


class PendingVerificationOutput(serializers.Serializer):
    user = UserOutput()
    verification_sent = serializers.BooleanField()


class EmailChangeOutput(serializers.Serializer):
    email = serializers.EmailField(help_text="The new address, pending its verification.")
    verified = serializers.BooleanField()


class ApiKeyOutput(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)


class ApiKeyCreatedOutput(ApiKeyOutput):
    key = serializers.CharField(help_text="The key itself. Shown once: store it now.")


class ProviderKeyOutput(serializers.Serializer):
    provider = serializers.ChoiceField(choices=Provider.choices)
    last_four = serializers.CharField()
    base_url = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)


class LinkedAccountOutput(serializers.Serializer):
    id = serializers.IntegerField()
    provider = serializers.CharField(
        help_text="The provider's id in this server's settings (e.g. google, github, keycloak)."
    )
    name = serializers.SerializerMethodField(help_text="The provider's name.")
    label = serializers.SerializerMethodField(help_text="The account at the provider.")
    linked_at = serializers.DateTimeField(source="date_joined")
    last_login = serializers.DateTimeField()

    def get_name(self, account) -> str:
        return social.provider_name(account)

    def get_label(self, account) -> str:
        return social.account_label(account)


class SignInMethodsOutput(serializers.Serializer):
    password = serializers.BooleanField(help_text="Whether the account has a password.")
    linked_accounts = LinkedAccountOutput(many=True)
