from rest_framework import serializers

from core.api import InputSerializer
from core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from marketplace.manifest import CATEGORIES, NAMESPACE
from marketplace.selectors import CATALOG_CURSOR_PATTERN, SORTS

# --- input ---------------------------------------------------------------------------------------


class PublisherInput(InputSerializer):
    namespace = serializers.RegexField(
        NAMESPACE,
        max_length=39,
        error_messages={"invalid": "Lowercase letters, digits and inner hyphens (1-39)."},
    )


class PluginSubmitInput(InputSerializer):
    manifest = serializers.CharField(
        max_length=20_000, help_text="The manifest, as JSON text (PluginManifest)."
    )
    package = serializers.FileField(help_text="The package: a zip with engram-plugin.json.")


class CatalogQuery(InputSerializer):
    q = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    category = serializers.ChoiceField(choices=CATEGORIES, required=False, default="")
    sort = serializers.ChoiceField(choices=list(SORTS), required=False, default="newest")
    cursor = serializers.RegexField(
        CATALOG_CURSOR_PATTERN, required=False, allow_blank=True, max_length=100, default=""
    )
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT)


class PluginInstallRequest(InputSerializer):
    """PluginInstallRequest: nothing is required; the newest approved version is installed."""

    accept_permissions = serializers.BooleanField(
        required=False, default=True, help_text="The user saw and accepts the permissions."
    )


class RatingInput(InputSerializer):
    stars = serializers.IntegerField(min_value=1, max_value=5)
    text = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="")


# The imperative, as people say it, and the outcome, as the version's status says it.
REVIEW_DECISIONS = {
    "approve": "approved",
    "approved": "approved",
    "reject": "rejected",
    "rejected": "rejected",
}


class ReviewInput(InputSerializer):
    decision = serializers.ChoiceField(
        choices=list(REVIEW_DECISIONS),
        help_text="approve (or approved), reject (or rejected).",
    )
    notes = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="")

    def validate_decision(self, value: str) -> str:
        return REVIEW_DECISIONS[value]


class EarningsQuery(InputSerializer):
    period = serializers.RegexField(
        r"^[0-9]{4}-(0[1-9]|1[0-2])$",
        help_text="YYYY-MM",
        error_messages={"invalid": "Use YYYY-MM."},
    )


# --- output --------------------------------------------------------------------------------------


class PluginSummaryOutput(serializers.Serializer):
    id = serializers.CharField(source="slug")
    name = serializers.CharField()
    description = serializers.CharField()
    category = serializers.CharField()
    publisher = serializers.CharField(source="publisher.namespace")
    version = serializers.CharField(source="latest_version.version")
    permissions = serializers.ListField(
        child=serializers.CharField(), source="latest_version.permissions"
    )
    price_cents = serializers.IntegerField()
    rating_average = serializers.FloatField()
    rating_count = serializers.IntegerField()
    install_count = serializers.IntegerField()
    listed_at = serializers.DateTimeField()


class PluginListResponse(serializers.Serializer):
    """PluginListResponse."""

    results = PluginSummaryOutput(many=True)
    total = serializers.IntegerField()
    next_cursor = serializers.CharField(allow_null=True)
    has_more = serializers.BooleanField()


class PluginVersionOutput(serializers.Serializer):
    version = serializers.CharField()
    permissions = serializers.ListField(child=serializers.CharField())
    package_sha256 = serializers.CharField()
    package_bytes = serializers.IntegerField()
    min_engram_version = serializers.CharField(source="manifest.min_engram_version")
    created_at = serializers.DateTimeField()


class PluginDetailOutput(PluginSummaryOutput):
    author = serializers.CharField(source="latest_version.manifest.author")
    homepage = serializers.CharField(
        source="latest_version.manifest.homepage", default="", allow_blank=True
    )
    manifest = serializers.JSONField(source="latest_version.manifest")
    versions = PluginVersionOutput(many=True, source="approved_versions")


class PaymentOutput(serializers.Serializer):
    payment_intent = serializers.CharField()
    client_secret = serializers.CharField(help_text="Confirm it with Stripe.js.")
    amount_cents = serializers.IntegerField()
    currency = serializers.CharField()


class InstallOutput(serializers.Serializer):
    ok = serializers.BooleanField()
    status = serializers.CharField()
    version = serializers.CharField()
    download_url = serializers.CharField(
        allow_null=True, help_text="Signed and time-limited; null until a payment succeeds."
    )
    payment = PaymentOutput(allow_null=True)


class InstallationOutput(serializers.Serializer):
    plugin = PluginSummaryOutput()
    version = serializers.CharField(source="version.version")
    status = serializers.CharField()
    installed_at = serializers.DateTimeField()


class InstallationListOutput(serializers.Serializer):
    results = InstallationOutput(many=True)


class RatingOutput(serializers.Serializer):
    stars = serializers.IntegerField()
    text = serializers.CharField()
    updated_at = serializers.DateTimeField()


class PublisherOutput(serializers.Serializer):
    namespace = serializers.CharField()
    stripe_account_id = serializers.CharField()
    charges_enabled = serializers.BooleanField()
    payouts_enabled = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class UrlOutput(serializers.Serializer):
    url = serializers.CharField()


class CheckOutput(serializers.Serializer):
    check = serializers.CharField()
    passed = serializers.BooleanField()
    detail = serializers.CharField(allow_blank=True)


class SubmissionOutput(serializers.Serializer):
    id = serializers.UUIDField()
    plugin = serializers.CharField(source="plugin.slug")
    version = serializers.CharField()
    status = serializers.CharField()
    checks = CheckOutput(many=True)
    review_notes = serializers.CharField()
    reviewed_at = serializers.DateTimeField(allow_null=True)
    package_sha256 = serializers.CharField()
    package_bytes = serializers.IntegerField()
    manifest = serializers.JSONField()
    created_at = serializers.DateTimeField()


class SubmissionListOutput(serializers.Serializer):
    results = SubmissionOutput(many=True)
    next_cursor = serializers.CharField(allow_null=True)
    has_more = serializers.BooleanField()


class ReviewQueueItemOutput(SubmissionOutput):
    publisher = serializers.CharField(source="plugin.publisher.namespace")


class ReviewQueueOutput(serializers.Serializer):
    results = ReviewQueueItemOutput(many=True)
    next_cursor = serializers.CharField(allow_null=True)
    has_more = serializers.BooleanField()


class LedgerEntryOutput(serializers.Serializer):
    plugin = serializers.CharField(source="plugin.slug")
    kind = serializers.CharField()
    gross_cents = serializers.IntegerField()
    fee_cents = serializers.IntegerField()
    publisher_cents = serializers.IntegerField()
    settled = serializers.BooleanField()
    occurred_at = serializers.DateTimeField()


class EarningsOutput(serializers.Serializer):
    period = serializers.CharField()
    currency = serializers.CharField()
    gross_cents = serializers.IntegerField()
    platform_fee_cents = serializers.IntegerField()
    publisher_cents = serializers.IntegerField()
    settled_cents = serializers.IntegerField(help_text="Paid with the charges themselves.")
    payout_cents = serializers.IntegerField(help_text="Paid by the monthly payout.")
    payout_status = serializers.CharField(allow_null=True)
    sales = serializers.IntegerField()
    refunds = serializers.IntegerField()
    entries = LedgerEntryOutput(many=True)
