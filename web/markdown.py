"""A model's answer, written in Markdown, as HTML for the chat page.

CommonMark through markdown-it-py, safe for text no one checked: raw HTML in the answer is
escaped; a link is a link only to ``http``, ``https`` or ``mailto`` addresses (or a relative
one), any other scheme (``javascript:``, ``data:``, ``ms-msdt:``, ``vscode:``...) stays text;
images are not rendered (an answer could otherwise make the reader's browser fetch a stranger's
address; the page's CSP would refuse it anyway); links open without telling the other site where
from; the answer's headings sit below the page's own (``#`` is an ``<h3>``). Single line breaks
are kept, as models write them.

Two limits keep every word on the page and the page quick: an answer longer than ``MAX_CHARS``
(some inputs cost markdown-it time quadratic in their length: a second for 50,000 ``[``) or
nested deeper than markdown-it renders (it drops what lies past ``MAX_NESTING``) is shown as
written, unformatted.
"""

import re

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

MAX_CHARS = 32_000
MAX_NESTING = 100
LINK_REL = "nofollow noopener noreferrer"
LINK_SCHEMES = frozenset({"http", "https", "mailto"})
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*):", re.IGNORECASE)
# Headings of an answer, under the page's h1 (the thread) and h2s.
_HEADINGS = {"h1": "h3", "h2": "h4", "h3": "h5", "h4": "h6", "h5": "h6", "h6": "h6"}


def _link_allowed(url: str) -> bool:
    scheme = _SCHEME.match(url)
    return scheme is None or scheme.group(1).lower() in LINK_SCHEMES


_PARSER = MarkdownIt("commonmark", {"html": False, "breaks": True, "maxNesting": MAX_NESTING})
_PARSER.disable("image")
_PARSER.validateLink = _link_allowed  # markdown-it asks its instance; ours allows, not denies


def rendered(text: str) -> SafeString:
    text = text or ""
    if len(text) > MAX_CHARS:
        return _as_written(text)
    tokens = _PARSER.parse(text)
    if any(token.level >= MAX_NESTING - 1 for token in tokens):
        return _as_written(text)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = _HEADINGS[token.tag]
        for child in token.children or ():
            if child.type == "link_open":
                child.attrSet("rel", LINK_REL)
    # Safe: markdown-it escaped the text and every attribute it wrote.
    return mark_safe(_PARSER.renderer.render(tokens, _PARSER.options, {}))


def _as_written(text: str) -> SafeString:
    return format_html('<p class="as-written">{}</p>', text)
