"""Storage's one reaction to a change elsewhere: a deleted user's bytes are deleted too.

Users are deleted by the admin and Django's own tooling, with no service of ours in between;
their rows cascade in the database, and this removes their blobs from storage after commit.
"""

from django.db import transaction

from backups.tasks import storage_purge_user


def purge_blobs_of_deleted_user(sender, instance, **kwargs) -> None:
    user_id = str(instance.pk)
    transaction.on_commit(lambda: storage_purge_user.delay(user_id))
