"""The one JSON reader for everything a client sends: HTTP bodies (DRF), WebSocket frames,
uploaded manifests, webhook bodies.

Python's JSON decoder, and every function that walks its result, recurses once per level of
nesting: a body of a thousand ``[`` ends in a RecursionError (a 500 and a traceback thousands of
lines long). The decoder's own recursion guard stops a document too deep for the interpreter,
and the decoded value is measured without recursion: anything deeper than ``MAX_JSON_DEPTH`` is
refused as invalid input, so nothing deeper ever reaches a serializer. Both steps are linear in
the text (a scan of the text for brackets cannot be: telling a bracket from the inside of a
string needs a string grammar, and a regular expression for it backtracks).
"""

import json
from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils.json import strict_constant

# Deeper than any document the API takes (metadata, chat messages, tool schemas), far below
# the interpreter's recursion limit.
MAX_JSON_DEPTH = 64

TOO_DEEP_MESSAGE = f"JSON may be nested at most {MAX_JSON_DEPTH} levels deep."


class JSONInputError(ValueError):
    """The text is not JSON, or is nested deeper than MAX_JSON_DEPTH."""


def json_depth_exceeds(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``value`` (decoded JSON: dicts, lists, scalars) nests more than ``limit`` lists
    and objects deep. One level at a time, without recursion; stops at the first level too deep."""
    level = [value] if isinstance(value, dict | list) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        below = []
        for item in level:
            for child in item.values() if isinstance(item, dict) else item:
                if isinstance(child, dict | list):
                    below.append(child)
        level = below
    return False


def json_loads(text: str | bytes) -> Any:
    """Parse client JSON (no NaN or Infinity, at most MAX_JSON_DEPTH levels deep).

    Raises JSONInputError with a message fit for the client.
    """
    if isinstance(text, bytes | bytearray):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise JSONInputError("The body is not UTF-8 text.") from None
    try:
        value = json.loads(text, parse_constant=strict_constant)
    except RecursionError:
        raise JSONInputError(TOO_DEEP_MESSAGE) from None
    except ValueError as exc:
        raise JSONInputError(f"JSON parse error - {exc}") from None
    # Most documents hold fewer brackets than the limit and cannot be too deep: skip the walk.
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and json_depth_exceeds(value):
        raise JSONInputError(TOO_DEEP_MESSAGE)
    return value


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser reading through ``json_loads``."""

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        try:
            return json_loads(stream.read())
        except JSONInputError as exc:
            raise ParseError(str(exc)) from None


def json_lines_loads(data: bytes) -> list[Any]:
    """Parse a JSON Lines document: one JSON value per line (``json_loads``), blank lines
    skipped. Raises JSONInputError naming the first line that is not JSON."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise JSONInputError("The body is not UTF-8 text.") from None
    items = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(json_loads(line))
        except JSONInputError as exc:
            raise JSONInputError(f"Line {number} is not valid JSON: {exc}") from None
    return items


class JSONLinesParser(parsers.BaseParser):
    """A JSON Lines body (``application/x-ndjson``) as the list of its values."""

    media_type = "application/x-ndjson"

    def parse(self, stream, media_type=None, parser_context=None) -> list[Any]:
        try:
            return json_lines_loads(stream.read())
        except JSONInputError as exc:
            raise ParseError(str(exc)) from None
