"""Pieces of admin pages shared by the apps' ModelAdmins."""

from django import forms
from django.contrib.admin import display, helpers
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import mark_safe


class ListedByIdMixin:
    """A list whose rows never show the object's text: the selection checkbox is labelled with
    the id, where Django labels it with ``str(obj)`` (a memory's or message's text)."""

    @display(description=mark_safe('<input type="checkbox" id="action-toggle">'))
    def action_checkbox(self, obj) -> str:
        attrs = {"class": "action-select", "aria-label": format_html("Select {}", obj.pk)}
        return forms.CheckboxInput(attrs, lambda value: False).render(
            helpers.ACTION_CHECKBOX_NAME, str(obj.pk)
        )


class ReadOnlyMixin:
    """Shown, never added or changed in the console: the rows come from elsewhere (Stripe's
    webhooks, the services that keep history and side effects)."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
