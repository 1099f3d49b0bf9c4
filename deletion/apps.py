from django.apps import AppConfig


class DeletionConfig(AppConfig):
    """A person deletes their account and everything in it (docs/accounts.md, Deleting an
    account). Its own app because it reaches every domain that keeps a user's things."""

    name = "deletion"
