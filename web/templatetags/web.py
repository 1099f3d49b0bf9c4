"""Template helpers of the web app."""

import re
from datetime import UTC, datetime

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from web.markdown import rendered

register = template.Library()

_MARKS = re.compile(r"(</?mark>)")


@register.filter
def highlighted(fragment: str) -> SafeString:
    """A search highlight (PostgreSQL's ts_headline of the memory's text, the matched words in
    <mark>): the text escaped, only the <mark> tags kept as HTML."""
    parts = _MARKS.split(fragment or "")
    return mark_safe("".join(part if _MARKS.fullmatch(part) else escape(part) for part in parts))


@register.filter
def markdown(text: str) -> SafeString:
    """A model's answer formatted (web/markdown.py: raw HTML escaped, unsafe links as text)."""
    return rendered(text)


@register.filter
def percent(used: int | None, limit: int | None) -> int:
    """How full a meter is, 0..100 (0 without a limit)."""
    if not used or not limit:
        return 0
    return min(100, round(100 * used / limit))


@register.filter
def moment(value: datetime | None, precision: str = "minutes") -> SafeString:
    """A time as ``<time>``: written in UTC, and saying so, for a page without scripts; app.js
    shows it in the reader's own time zone. ``precision``: "minutes" or "seconds"."""
    if value is None:
        return mark_safe("")
    utc = value.astimezone(UTC)
    shown = utc.strftime("%Y-%m-%d %H:%M:%S" if precision == "seconds" else "%Y-%m-%d %H:%M")
    return format_html(
        '<time datetime="{}" data-local="{}">{} UTC</time>',
        utc.isoformat().replace("+00:00", "Z"),
        precision,
        shown,
    )
