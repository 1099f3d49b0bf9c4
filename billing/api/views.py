"""``/api/v1/billing/``: checkout, portal, the subscription, invoices, usage, plans, and the
Stripe webhook. Every endpoint that needs Stripe answers ``BILLING_DISABLED`` when billing is
off; usage and plans answer on every server."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import selectors, services
from billing.api import serializers as s
from core.api import validated

TAG = "billing"


class CheckoutView(APIView):
    @extend_schema(
        tags=[TAG],
        request=s.CheckoutInput,
        responses={
            200: s.BillingUrlOutput,
            409: OpenApiResponse(description="A subscription exists: change it (CONFLICT)."),
        },
    )
    def post(self, request: Request) -> Response:
        url = services.checkout_start(
            user=request.user,
            site_url=request.build_absolute_uri("/"),
            **validated(s.CheckoutInput, request.data),
        )
        return Response({"url": url})


class PortalView(APIView):
    @extend_schema(tags=[TAG], request=None, responses={200: s.BillingUrlOutput})
    def post(self, request: Request) -> Response:
        url = services.portal_start(user=request.user, site_url=request.build_absolute_uri("/"))
        return Response({"url": url})


class SubscriptionView(APIView):
    def _summary(self, request: Request) -> Response:
        request.user.refresh_from_db(fields=["tier", "seats"])
        return Response(
            s.SubscriptionOutput(selectors.subscription_summary(user=request.user)).data
        )

    @extend_schema(tags=[TAG], responses={200: s.SubscriptionOutput})
    def get(self, request: Request) -> Response:
        services.billing_required()
        return self._summary(request)

    @extend_schema(
        tags=[TAG], request=s.SubscriptionChangeInput, responses={200: s.SubscriptionOutput}
    )
    def patch(self, request: Request) -> Response:
        changes = validated(s.SubscriptionChangeInput, request.data)
        services.subscription_change(user=request.user, **changes)
        return self._summary(request)

    @extend_schema(
        tags=[TAG],
        parameters=[
            OpenApiParameter(
                "now", bool, description="Cancel at once (unused time credited), not at period end"
            )
        ],
        responses={200: s.SubscriptionOutput},
    )
    def delete(self, request: Request) -> Response:
        options = validated(s.SubscriptionCancelInput, request.query_params)
        services.subscription_cancel(user=request.user, now=options["now"])
        return self._summary(request)


class InvoiceListView(APIView):
    @extend_schema(tags=[TAG], responses={200: s.InvoiceListOutput})
    def get(self, request: Request) -> Response:
        services.billing_required()
        return Response(
            s.InvoiceListOutput({"results": selectors.invoices_of(user=request.user)}).data
        )


class UsageView(APIView):
    @extend_schema(tags=[TAG], responses={200: s.BillingUsageOutput})
    def get(self, request: Request) -> Response:
        return Response(s.BillingUsageOutput(selectors.usage_of(user=request.user)).data)


class PlanListView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(tags=[TAG], responses={200: s.PlanListOutput})
    def get(self, request: Request) -> Response:
        return Response(s.PlanListOutput({"results": selectors.plans()}).data)


class StripeWebhookView(APIView):
    """Stripe's deliveries: signed, not authenticated. 200 once the event is processed (or was
    before); 400 for a bad signature or stale timestamp, and nothing changes."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    @extend_schema(tags=[TAG], request=None, responses={200: s.WebhookOutput})
    def post(self, request: Request) -> Response:
        # The signature covers the exact bytes Stripe sent: read them, never a parsed body.
        processed = services.stripe_event_receive(
            payload=request.body, signature=request.headers.get("Stripe-Signature", "")
        )
        return Response({"received": True, "duplicate": not processed})
