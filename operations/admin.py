"""Third-party admin pages brought to the console's rule: every list newest first."""

from django.contrib import admin
from rest_framework_simplejwt.token_blacklist.admin import (
    BlacklistedTokenAdmin,
    OutstandingTokenAdmin,
)
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

admin.site.unregister(OutstandingToken)
admin.site.unregister(BlacklistedToken)


@admin.register(OutstandingToken)
class NewestOutstandingTokenAdmin(OutstandingTokenAdmin):
    ordering = ("-created_at",)


@admin.register(BlacklistedToken)
class NewestBlacklistedTokenAdmin(BlacklistedTokenAdmin):
    ordering = ("-blacklisted_at",)
