"""Pieces of admin pages shared by the apps' ModelAdmins."""

from collections.abc import Callable
from operator import attrgetter

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


def shortened(
    field: str, *, length: int = 8, description: str | None = None, prose: bool = False
) -> Callable:
    """A list column with at most the first ``length`` characters of ``field`` (an id, an
    address, a model name; ``token.jti`` reaches through a relation), kept on one line, and the
    whole value on hover (its ``title``): a list of UUIDs and long names fits a 1400-pixel
    screen without a word broken over lines (a browser breaks a UUID or "gpt-4o-mini" at its
    hyphens). ``prose`` (an error message) wraps between its words instead."""

    read = attrgetter(field)
    line = "" if prose else "nowrap"
    name = field.rsplit(".", 1)[-1]

    @display(description=description or name.replace("_", " "), ordering=field.replace(".", "__"))
    def column(obj) -> str:
        value = read(obj)
        text = "" if value is None else str(value)
        if len(text) <= length:
            return format_html('<span class="{}">{}</span>', line, text)
        return format_html('<span class="{}" title="{}">{}…</span>', line, text, text[:length])

    column.__name__ = f"{field.replace('.', '_')}_shortened"
    return column
