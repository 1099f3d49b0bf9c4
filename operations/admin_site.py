"""The operator console: Django's admin site whose index page opens on the dashboard."""

from django import forms
from django.conf import settings
from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models.base import ModelBase
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from accounts.ratelimit import login_rate_limit
from accounts.services import user_second_factor_check
from core.errors import AuthenticationFailed, MfaRequired
from operations.charts import bar_chart
from operations.selectors import dashboard_overview


class OperatorLoginForm(AdminAuthenticationForm):
    """Django's admin login, and the second factor of an account that has one: the console is
    no way around what the API's login asks for."""

    code = forms.CharField(
        label="Authentication code",
        required=False,
        max_length=64,
        help_text="If you turned a second factor on: a code from your app, or a recovery code.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code"}),
    )

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.user_cache is not None:
            try:
                user_second_factor_check(user=self.user_cache, code=cleaned.get("code", ""))
            except (MfaRequired, AuthenticationFailed) as exc:
                raise ValidationError(exc.message, code="second_factor") from None
        return cleaned


class OperationsAdminSite(AdminSite):
    site_header = "Engram operations"
    site_title = "Engram operations"
    index_title = "Operator console"
    login_form = OperatorLoginForm

    def register(self, model_or_iterable, admin_class=None, **options) -> None:
        """Every list opens newest first, third-party ones (dj-stripe's, simplejwt's) included:
        a list without an ordering of its own is sorted by its model's time of creation."""
        super().register(model_or_iterable, admin_class, **options)
        models = (
            [model_or_iterable] if isinstance(model_or_iterable, ModelBase) else model_or_iterable
        )
        for model in models:
            model_admin = self._registry.get(model)  # a swapped-out model is not registered
            if model_admin is None or model_admin.ordering or model._meta.ordering:
                continue
            created = _creation_field(model)
            if created:
                model_admin.ordering = (f"-{created}",)

    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        """Django's login, behind the API login's limits (the same counters): the admin is no
        way around them to guess a password."""
        if request.method == "POST":
            login_rate_limit(request, account=request.POST.get("username", ""))
        return super().login(request, extra_context)

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict]:
        """Without billing, dj-stripe's forty lists are empty mirrors of a Stripe account the
        install does not have: left out of the index, the sidebar and their app's page."""
        apps = super().get_app_list(request, app_label)
        if settings.BILLING_ENABLED:
            return apps
        return [app for app in apps if app["app_label"] not in BILLING_APPS]

    def index(self, request: HttpRequest, extra_context: dict | None = None) -> TemplateResponse:
        """Staff only, like every admin page (``admin_view`` redirects anyone else to log in)."""
        overview = dashboard_overview()
        charts = {
            name: bar_chart(series, label=label)
            for name, label, series in (
                ("new_users", "New users per day", overview["users"]["new_per_day"]),
                ("active_users", "Active users per day", overview["users"]["active_per_day"]),
                ("memories", "Memories created per day", overview["memories"]["per_day"]),
                ("turns", "Chat turns per day", overview["chat"]["turns_per_day"]),
                ("tokens", "LLM tokens per day", overview["chat"]["tokens_per_day"]),
                ("cost", "LLM cost per day (USD)", overview["chat"]["cost_per_day"]),
            )
        }
        context = {
            "dashboard": overview,
            "charts": charts,
            "cache_seconds": settings.DASHBOARD_CACHE_SECONDS,
            **(extra_context or {}),
        }
        return super().index(request, extra_context=context)


# The apps whose lists mirror Stripe's objects.
BILLING_APPS = ("djstripe",)
# The names models give their time of creation, ours and third parties'.
CREATION_FIELDS = ("created_at", "created", "date_joined", "blacklisted_at")


def _creation_field(model: ModelBase) -> str | None:
    for name in CREATION_FIELDS:
        try:
            model._meta.get_field(name)
        except FieldDoesNotExist:
            continue
        return name
    return None
