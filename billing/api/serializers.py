from rest_framework import serializers

from billing.tiers import PAID_TIERS


class CheckoutInput(serializers.Serializer):
    tier = serializers.ChoiceField(choices=[str(tier) for tier in PAID_TIERS])
    seats = serializers.IntegerField(required=False, min_value=1, max_value=500)


class SubscriptionChangeInput(serializers.Serializer):
    schema_constraints = {"anyOf": [{"required": ["tier"]}, {"required": ["seats"]}]}
    tier = serializers.ChoiceField(choices=[str(tier) for tier in PAID_TIERS], required=False)
    seats = serializers.IntegerField(required=False, min_value=1, max_value=500)

    def validate(self, attrs: dict) -> dict:
        if not attrs:
            raise serializers.ValidationError("Give a tier, seats, or both.")
        return attrs


class SubscriptionCancelInput(serializers.Serializer):
    now = serializers.BooleanField(required=False, default=False)


class BillingUrlOutput(serializers.Serializer):
    url = serializers.URLField()


class SubscriptionOutput(serializers.Serializer):
    tier = serializers.CharField(help_text="The tier the account has now.")
    seats = serializers.IntegerField()
    subscription_id = serializers.CharField(allow_null=True)
    status = serializers.CharField(
        allow_null=True, help_text="Stripe's status: active, trialing, past_due, canceled, ..."
    )
    subscribed_tier = serializers.CharField(allow_null=True)
    current_period_end = serializers.DateTimeField(allow_null=True)
    cancel_at_period_end = serializers.BooleanField()
    trial_end = serializers.DateTimeField(allow_null=True)
    grace_ends_at = serializers.DateTimeField(
        allow_null=True, help_text="When a past_due subscription loses its tier."
    )


class InvoiceOutput(serializers.Serializer):
    id = serializers.CharField()
    number = serializers.CharField(allow_null=True)
    amount_due = serializers.IntegerField(help_text="In cents of the currency.")
    amount_paid = serializers.IntegerField()
    total = serializers.IntegerField()
    currency = serializers.CharField()
    status = serializers.CharField()
    billing_reason = serializers.CharField(allow_null=True)
    created = serializers.DateTimeField()
    hosted_invoice_url = serializers.URLField(allow_null=True)
    invoice_pdf = serializers.URLField(allow_null=True)


class InvoiceListOutput(serializers.Serializer):
    results = InvoiceOutput(many=True)


class UsageMeterOutput(serializers.Serializer):
    used = serializers.IntegerField(allow_null=True)
    limit = serializers.IntegerField(allow_null=True, help_text="null: unlimited")


class BillingUsageOutput(serializers.Serializer):
    tier = serializers.CharField(
        help_text="The tier whose limits apply: your own, or your paying team's (the better)."
    )
    period_start = serializers.DateField()
    requests = UsageMeterOutput()
    requests_today = UsageMeterOutput()
    requests_per_minute = UsageMeterOutput()
    tokens = UsageMeterOutput()
    cost_usd = serializers.DecimalField(max_digits=14, decimal_places=6, coerce_to_string=True)
    memories = UsageMeterOutput()
    memory_storage_bytes = UsageMeterOutput()
    backup_bytes = UsageMeterOutput()
    cloud_storage_bytes = UsageMeterOutput()


class PlanOutput(serializers.Serializer):
    tier = serializers.CharField()
    name = serializers.CharField()
    monthly_price_eur = serializers.IntegerField()
    per_seat = serializers.BooleanField()
    purchasable = serializers.BooleanField()
    limits = serializers.DictField(help_text="Each feature's limit; null: unlimited.")


class PlanListOutput(serializers.Serializer):
    results = PlanOutput(many=True)


class WebhookOutput(serializers.Serializer):
    received = serializers.BooleanField()
    duplicate = serializers.BooleanField(help_text="The event was processed before: nothing done.")
