"""Third-party admin pages brought to the console's rule: every list newest first."""

from django.contrib import admin
from rest_framework_simplejwt.token_blacklist.admin import (
    BlacklistedTokenAdmin,
    OutstandingTokenAdmin,
)
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from core.admin_mixins import shortened

admin.site.unregister(OutstandingToken)
admin.site.unregister(BlacklistedToken)


@admin.register(OutstandingToken)
class NewestOutstandingTokenAdmin(OutstandingTokenAdmin):
    list_display = (shortened("jti"), shortened("user", length=20), "created_at", "expires_at")
    ordering = ("-created_at",)


@admin.register(BlacklistedToken)
class NewestBlacklistedTokenAdmin(BlacklistedTokenAdmin):
    list_display = (
        shortened("token.jti", description="jti"),
        shortened("token.user", length=20, description="user"),
        "token_created_at",
        "token_expires_at",
        "blacklisted_at",
    )
    ordering = ("-blacklisted_at",)
