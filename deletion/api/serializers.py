from rest_framework import serializers


class AccountDeletionInput(serializers.Serializer):
    confirm_email = serializers.CharField(
        max_length=254, help_text="The account's email address, typed to confirm."
    )
    password = serializers.CharField(
        max_length=128,
        required=False,
        default="",
        trim_whitespace=False,
        help_text="The account's password; an account made through a provider has none.",
    )
