"""Stripe's wire format: form-encoded parameters in, list and error objects out, ``expand``,
and the ``Stripe-Signature`` header webhooks carry."""

import hashlib
import hmac
import re
import secrets
import string
from typing import Any
from urllib.parse import parse_qsl

_KEY_PART = re.compile(r"\[([^\]]*)\]")
_ID_ALPHABET = string.ascii_letters + string.digits


class StripeError(Exception):
    """Answered as Stripe answers a refused request:
    ``{"error": {type, message, param?, code?}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"type": type, "message": message}}
        if param:
            self.body["error"]["param"] = param
        if code:
            self.body["error"]["code"] = code


def missing(kind: str, object_id: str) -> StripeError:
    return StripeError(404, f"No such {kind}: '{object_id}'", param="id", code="resource_missing")


def new_id(prefix: str) -> str:
    return f"{prefix}_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(14))


def decode_form(raw: str) -> dict[str, Any]:
    """``items[0][price]=p&expand[]=x&metadata[k]=v`` into nested dicts and lists, as Stripe
    reads them (indexed and ``[]`` list entries both accepted; values stay strings)."""
    result: dict[str, Any] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        head = key.split("[", 1)[0]
        parts = [head, *_KEY_PART.findall(key)]
        node: Any = result
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            following = None if last else parts[index + 1]
            child_default: Any = (
                [] if following is not None and (following == "" or following.isdigit()) else {}
            )
            if isinstance(node, list):
                position = len(node) if part == "" else int(part)
                while len(node) <= position:
                    node.append(None)
                if last:
                    node[position] = value
                else:
                    if node[position] is None:
                        node[position] = child_default
                    node = node[position]
            else:
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, child_default)
    return result


def as_bool(value: Any) -> bool:
    return value in (True, "true", "True", "1")


def as_int(value: Any, param: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise StripeError(400, f"Invalid integer: {value}", param=param) from None


def list_object(url: str, data: list[dict[str, Any]], limit: Any = None) -> dict[str, Any]:
    count = as_int(limit, "limit") if limit not in (None, "") else 10
    return {"object": "list", "url": url, "has_more": len(data) > count, "data": data[:count]}


def expand(obj: Any, paths: list[str], lookup) -> Any:
    """Replace ids named by ``paths`` (``latest_invoice``, ``items.data.price.product``,
    ``data.customer`` on lists) with the objects ``lookup(id)`` returns."""
    for path in paths:
        obj = _expand_one(obj, path.split("."), lookup)
    return obj


def _expand_one(node: Any, parts: list[str], lookup) -> Any:
    if not parts or node is None:
        return node
    if isinstance(node, list):
        return [_expand_one(item, parts, lookup) for item in node]
    if not isinstance(node, dict):
        return node
    head, rest = parts[0], parts[1:]
    value = node.get(head)
    if isinstance(value, str) and value:
        value = lookup(value)
    node = {**node, head: _expand_one(value, rest, lookup) if rest else value}
    return node


def signature_header(payload: str, secret: str, timestamp: int) -> str:
    """``t=<unix time>,v1=<hex HMAC-SHA256 of "t.payload" under the endpoint secret>``."""
    signed = f"{timestamp}.{payload}".encode()
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
