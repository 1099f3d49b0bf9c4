import uuid

from django.conf import settings
from django.db import models


class ConnectStatus(models.TextChoices):
    PENDING = "pending", "Waiting for approval"
    APPROVED = "approved", "Approved, key not yet collected"
    DENIED = "denied", "Denied"
    DELIVERED = "delivered", "Key delivered"


class ConnectRequest(models.Model):
    """A client asking for a scoped API key (docs/extension.md, the handshake).

    The client holds the poll secret (only its SHA-256 is stored here); the signed-in user sees
    ``user_code`` on the approval page and approves it. The key itself is made when the client
    collects it, so it is never stored in the clear, and it is handed out once."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user_code = models.CharField(max_length=9, unique=True)
    poll_secret_hash = models.CharField(max_length=64)
    client_name = models.CharField(max_length=100)
    status = models.CharField(
        max_length=16, choices=ConnectStatus.choices, default=ConnectStatus.PENDING
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE
    )
    api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["expires_at"])]

    def __str__(self) -> str:
        return f"{self.client_name} {self.user_code} ({self.status})"
