from django.urls import path

from billing.api import views

app_name = "billing"
urlpatterns = [
    path("checkout", views.CheckoutView.as_view(), name="checkout"),
    path("portal", views.PortalView.as_view(), name="portal"),
    path("subscription", views.SubscriptionView.as_view(), name="subscription"),
    path("invoices", views.InvoiceListView.as_view(), name="invoices"),
    path("usage", views.UsageView.as_view(), name="usage"),
    path("plans", views.PlanListView.as_view(), name="plans"),
    path("webhook", views.StripeWebhookView.as_view(), name="webhook"),
]
