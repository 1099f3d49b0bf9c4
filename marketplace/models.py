"""The plugin marketplace: publishers, plugins and their reviewed versions, installations,
ratings, and the revenue ledger with its monthly payouts. Money is integer cents (EUR)."""

import uuid

from django.conf import settings
from django.db import models


class Publisher(models.Model):
    """A user who publishes plugins under ``namespace`` (plugin ids are ``namespace.name``)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="publisher"
    )
    namespace = models.CharField(max_length=39, unique=True)
    # The Stripe Connect (Express) account paid plugins settle to, and what Stripe last said of it.
    stripe_account_id = models.CharField(max_length=64, blank=True, default="")
    charges_enabled = models.BooleanField(default=False)
    payouts_enabled = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.namespace


class Plugin(models.Model):
    """A plugin's identity and its listing: what its newest approved version says, and the
    aggregates the catalog sorts by (kept in the same transaction as what changes them)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.CharField(max_length=80, unique=True, help_text="namespace.name")
    publisher = models.ForeignKey(Publisher, on_delete=models.PROTECT, related_name="plugins")
    name = models.CharField(max_length=80, blank=True, default="")
    description = models.TextField(blank=True, default="")
    category = models.CharField(max_length=32, blank=True, default="")
    price_cents = models.PositiveIntegerField(default=0)
    latest_version = models.ForeignKey(
        "PluginVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    listed_at = models.DateTimeField(null=True, blank=True, help_text="First approval.")
    install_count = models.PositiveIntegerField(default=0)
    rating_sum = models.PositiveIntegerField(default=0)
    rating_count = models.PositiveIntegerField(default=0)
    rating_average = models.FloatField(default=0.0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["-rating_average", "-id"], name="plugin_by_rating"),
            models.Index(fields=["-install_count", "-id"], name="plugin_by_installs"),
            models.Index(fields=["-listed_at", "-id"], name="plugin_by_newest"),
        ]

    def __str__(self) -> str:
        return self.slug


class VersionStatus(models.TextChoices):
    PENDING_REVIEW = "pending_review", "Pending review"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class PluginVersion(models.Model):
    """One submitted version: its manifest, its package in the blob storage, what the automated
    checks found, and the review's outcome. Only approved versions are listed or installed."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    plugin = models.ForeignKey(Plugin, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=64)
    manifest = models.JSONField()
    permissions = models.JSONField(default=list)
    package_key = models.CharField(max_length=300)
    package_sha256 = models.CharField(max_length=64)
    package_bytes = models.PositiveBigIntegerField()
    checks = models.JSONField(default=list, help_text="The automated checks and their results.")
    status = models.CharField(
        max_length=16, choices=VersionStatus.choices, default=VersionStatus.PENDING_REVIEW
    )
    review_notes = models.TextField(blank=True, default="")
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["plugin", "version"], name="one_row_per_plugin_version")
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="version_review_queue")]

    def __str__(self) -> str:
        return f"{self.plugin_id}@{self.version}"


class ReviewDecision(models.Model):
    """Every review decision, kept: who decided what about which version, when, and why."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    version = models.ForeignKey(PluginVersion, on_delete=models.CASCADE, related_name="decisions")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    decision = models.CharField(max_length=16, choices=VersionStatus.choices)
    notes = models.TextField(blank=True, default="")
    decided_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.version_id} {self.decision}"


class InstallStatus(models.TextChoices):
    PENDING_PAYMENT = "pending_payment", "Waiting for the payment"
    ACTIVE = "active", "Installed"
    UNINSTALLED = "uninstalled", "Uninstalled"
    REVOKED = "revoked", "Revoked (refunded)"


class Installation(models.Model):
    """A user's installation of a plugin: one row per user and plugin, whatever its history."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # None once the buyer deleted their account: a sale stays on the publisher's books.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.CASCADE,
        related_name="plugin_installations",
    )
    plugin = models.ForeignKey(Plugin, on_delete=models.PROTECT, related_name="installations")
    version = models.ForeignKey(PluginVersion, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=InstallStatus.choices)
    # A paid installation: what was charged and the Stripe PaymentIntent that charged it.
    amount_cents = models.PositiveIntegerField(default=0)
    payment_intent_id = models.CharField(max_length=64, blank=True, default="", db_index=True)
    installed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "plugin"], name="one_installation_per_plugin")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.plugin_id} {self.status}"


class Rating(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="plugin_ratings"
    )
    plugin = models.ForeignKey(Plugin, on_delete=models.CASCADE, related_name="ratings")
    stars = models.PositiveSmallIntegerField()
    text = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "plugin"], name="one_rating_per_user_plugin"),
            models.CheckConstraint(
                condition=models.Q(stars__gte=1, stars__lte=5), name="rating_stars_1_to_5"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plugin_id} {self.stars}"


class LedgerKind(models.TextChoices):
    SALE = "sale", "Sale"
    REFUND = "refund", "Refund"


class LedgerEntry(models.Model):
    """One movement of a paid plugin's money, in cents: a sale (positive) or a refund
    (negative), split into the platform's fee and the publisher's share (``fee + share =
    gross``). ``settled`` says the publisher's share already moved with the charge (a
    destination charge); unsettled shares are paid by the monthly payout."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    publisher = models.ForeignKey(Publisher, on_delete=models.PROTECT, related_name="ledger")
    plugin = models.ForeignKey(Plugin, on_delete=models.PROTECT, related_name="ledger")
    installation = models.ForeignKey(Installation, on_delete=models.PROTECT, related_name="ledger")
    kind = models.CharField(max_length=8, choices=LedgerKind.choices)
    gross_cents = models.IntegerField()
    fee_cents = models.IntegerField()
    publisher_cents = models.IntegerField()
    settled = models.BooleanField(default=False)
    # The Stripe object this entry records (the PaymentIntent of a sale, the Refund of a
    # refund): a webhook delivered twice records it once.
    stripe_object_id = models.CharField(max_length=64, unique=True)
    period = models.CharField(max_length=7, help_text="YYYY-MM (UTC) of occurred_at.")
    occurred_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["publisher", "period"], name="ledger_by_period")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(gross_cents=models.F("fee_cents") + models.F("publisher_cents")),
                name="ledger_fee_plus_share_is_gross",
            )
        ]

    def __str__(self) -> str:
        return f"{self.period} {self.kind} {self.gross_cents}"


class PayoutStatus(models.TextChoices):
    CLAIMED = "claimed", "Being paid"
    PAID = "paid", "Paid"
    FAILED = "failed", "Failed (retried by the next run)"


class Payout(models.Model):
    """The monthly transfer of a publisher's unsettled share for one period; one per
    (publisher, period), claimed before Stripe is called so that two runs pay once."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    publisher = models.ForeignKey(Publisher, on_delete=models.PROTECT, related_name="payouts")
    period = models.CharField(max_length=7)
    amount_cents = models.IntegerField()
    status = models.CharField(max_length=8, choices=PayoutStatus.choices)
    transfer_id = models.CharField(max_length=64, blank=True, default="")
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["publisher", "period"], name="one_payout_per_period")
        ]

    def __str__(self) -> str:
        return f"{self.publisher_id} {self.period} {self.status}"
