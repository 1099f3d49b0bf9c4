"""A model's answer, written in Markdown, as HTML for the chat page.

CommonMark through markdown-it-py, safe for text no one checked: raw HTML in the answer is
escaped, links whose scheme could run code (``javascript:``, ``vbscript:``, ``file:``, ``data:``)
stay text (markdown-it's own check), images are not rendered (an answer could otherwise make
the reader's browser fetch a stranger's address; the page's CSP would refuse it anyway), and
links open without telling the other site where from. Single line breaks are kept, as models
write them.
"""

from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

_PARSER = MarkdownIt("commonmark", {"html": False, "breaks": True}).disable("image")
LINK_REL = "nofollow noopener noreferrer"


def rendered(text: str) -> SafeString:
    tokens = _PARSER.parse(text or "")
    for token in tokens:
        for child in token.children or ():
            if child.type == "link_open":
                child.attrSet("rel", LINK_REL)
    # Safe: markdown-it escaped the text and every attribute it wrote.
    return mark_safe(_PARSER.renderer.render(tokens, _PARSER.options, {}))
