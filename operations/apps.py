from django.apps import AppConfig

# Imported as a module: a config class among this module's names would count as a candidate
# default config of the operations app.
from django.contrib.admin import apps as admin_apps


class OperationsConfig(AppConfig):
    name = "operations"
    verbose_name = "Operations"


class OperationsAdminConfig(admin_apps.AdminConfig):
    """Django's admin with the operator dashboard as its index page."""

    default = False  # named explicitly in INSTALLED_APPS, in place of django.contrib.admin
    default_site = "operations.admin_site.OperationsAdminSite"
