from django.apps import AppConfig
from django.db.models.signals import post_delete


class BackupsConfig(AppConfig):
    """Encrypted storage: opaque records, client-side vectors and backups (the app keeps the
    name STYLE.md gives it; its URLs are /api/v1/storage/... and /api/v1/backup)."""

    name = "backups"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model

        from backups.receivers import purge_blobs_of_deleted_user

        post_delete.connect(
            purge_blobs_of_deleted_user, sender=get_user_model(), dispatch_uid="backups.purge"
        )
