"""mem0's entities (user_id, agent_id, run_id, app_id) on Engram's memories, both ways.

mem0 scopes a memory by up to four entity ids inside a project; Engram by two scope fields
(``agent_id``, ``session_id``) inside one Engram user, the owner of the API key. So:

- ``agent_id`` is Engram's ``agent_id``, as it is;
- ``user_id`` and ``run_id`` make Engram's ``session_id``: ``mem0:<user_id>:<run_id>``, each
  percent-encoded. Deduplication, extraction (its candidates and decisions) and the merging of
  near-duplicates all stay inside one (agent_id, session_id) scope, so one end user's memories
  are never compared with, updated by or merged into another's;
- all four are also kept in ``metadata`` as ``mem0_user_id``, ``mem0_agent_id``,
  ``mem0_run_id``, ``mem0_app_id``: filters match on them (``user_id: alice`` finds alice's
  memories of every agent and run), and they are shown back as mem0 shows them.

Memories saved through Engram's own API carry none of these keys, so mem0 filters never reach
them (every mem0 read and delete names at least one entity).
"""

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from django.utils.dateparse import parse_date, parse_datetime
from django.utils.timezone import is_naive, make_aware

from core.errors import ValidationFailed
from memories.models import Memory
from memories.selectors import MemoryFilters

ENTITY_NAMES = ("user_id", "agent_id", "run_id", "app_id")
METADATA_PREFIX = "mem0_"
ENTITY_MAX_CHARS = 100
# An OR of more branches than this is refused (each branch is one query).
MAX_FILTER_BRANCHES = 10
SESSION_PREFIX = "mem0"
SCOPE_MAX_CHARS = 255


@dataclass(frozen=True)
class Entities:
    user_id: str = ""
    agent_id: str = ""
    run_id: str = ""
    app_id: str = ""

    def any(self) -> bool:
        return any(getattr(self, name) for name in ENTITY_NAMES)

    def scope(self) -> dict[str, str]:
        """Engram's scope fields for these entities."""
        session = ":".join(
            [SESSION_PREFIX, quote(self.user_id, safe=""), quote(self.run_id, safe="")]
        )
        if len(session) > SCOPE_MAX_CHARS:
            raise ValidationFailed(
                "The user_id and run_id are too long together.",
                details={"user_id": [f"With run_id, at most {SCOPE_MAX_CHARS} encoded chars."]},
            )
        return {"agent_id": self.agent_id, "session_id": session}

    def metadata(self) -> dict[str, str]:
        """The metadata keys that name these entities (only those given)."""
        return {
            METADATA_PREFIX + name: value for name in ENTITY_NAMES if (value := getattr(self, name))
        }


def entities_from(data: dict[str, Any]) -> Entities:
    """The entity ids in ``data`` (a request body or query), checked."""
    values, errors = {}, {}
    for name in ENTITY_NAMES:
        value = data.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > ENTITY_MAX_CHARS or "\x00" in value:
            errors[name] = [f"A string of at most {ENTITY_MAX_CHARS} characters."]
        else:
            values[name] = value.strip()
    if errors:
        raise ValidationFailed(details=errors)
    return Entities(**values)


def is_reserved(key: str) -> bool:
    return key in {METADATA_PREFIX + name for name in ENTITY_NAMES}


def caller_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """A memory's metadata without the entity keys (what the caller stored)."""
    return {key: value for key, value in metadata.items() if not is_reserved(key)}


def entity_ids(metadata: dict[str, Any]) -> dict[str, str | None]:
    """The entity ids a memory's metadata names (None for those it does not)."""
    return {name: metadata.get(METADATA_PREFIX + name) for name in ENTITY_NAMES}


def memory_body(memory: Memory, **extra: Any) -> dict[str, Any]:
    """A memory as mem0's platform shows one."""
    metadata = memory.metadata or {}
    return {
        "id": str(memory.pk),
        "memory": memory.content,
        **entity_ids(metadata),
        "hash": memory.content_hash,
        "metadata": caller_metadata(metadata) or None,
        "categories": list(memory.tags),
        "immutable": False,
        "expiration_date": None,
        "created_at": memory.created_at.isoformat(),
        "updated_at": memory.updated_at.isoformat(),
        **extra,
    }


# --- Filters -------------------------------------------------------------------------------------

# One conjunction of conditions: metadata equalities and a created_at range.
_Branch = dict[str, Any]


def _moment(value: Any, *, end_of_day: bool) -> datetime:
    text = str(value)
    try:
        day, moment = parse_date(text), None
        if day is not None:  # a whole day: "lte" and "gt" a day mean up to or from its end
            moment = datetime.combine(day, datetime.min.time())
            moment += timedelta(days=1) if end_of_day else timedelta()
        else:
            moment = parse_datetime(text)
    except ValueError:
        moment = None
    if moment is None:
        raise ValidationFailed(details={"filters": {"created_at": [f"Not a date: {text!r}."]}})
    return make_aware(moment) if is_naive(moment) else moment


def _leaf(key: str, value: Any) -> list[_Branch]:
    """The branches one ``key: value`` item of a filter stands for."""
    if key in ENTITY_NAMES:
        if isinstance(value, dict) and set(value) == {"in"} and isinstance(value["in"], list):
            return [_leaf(key, item)[0] for item in value["in"]]
        if not isinstance(value, str) or not value or value == "*":
            raise ValidationFailed(
                details={"filters": {key: ["An id, or {'in': [ids]}; wildcards are not served."]}}
            )
        return [{"metadata": {METADATA_PREFIX + key: value}}]
    if key == "metadata" and isinstance(value, dict):
        wrong = [name for name, item in value.items() if is_reserved(name)]
        if wrong:
            raise ValidationFailed(details={"filters": {"metadata": ["Use the entity filters."]}})
        return [{"metadata": dict(value)}]
    if key == "created_at" and isinstance(value, dict) and value:
        branch: _Branch = {}
        for operator, bound in value.items():
            if operator in ("gte", "gt"):
                branch["since"] = _moment(bound, end_of_day=operator == "gt")
            elif operator in ("lte", "lt"):
                branch["until"] = _moment(bound, end_of_day=operator == "lte")
            else:
                raise ValidationFailed(
                    details={"filters": {"created_at": ["Operators: gte, gt, lte, lt."]}}
                )
        return [branch]
    raise ValidationFailed(
        f"The filter '{key}' is not served by this server.",
        details={"filters": {key: ["Supported: AND, OR, user_id, agent_id, run_id, app_id, "
                                   "metadata, created_at."]}},
    )  # fmt: skip


def _both(left: _Branch, right: _Branch) -> _Branch | None:
    """The conjunction of two branches; None when nothing can match both."""
    metadata = dict(left.get("metadata", {}))
    for key, value in right.get("metadata", {}).items():
        if key in metadata and metadata[key] != value:
            return None
        metadata[key] = value
    merged: _Branch = {"metadata": metadata}
    since = [moment for moment in (left.get("since"), right.get("since")) if moment]
    until = [moment for moment in (left.get("until"), right.get("until")) if moment]
    if since:
        merged["since"] = max(since)
    if until:
        merged["until"] = min(until)
    return merged


def _all_of(parts: Iterable[list[_Branch]]) -> list[_Branch]:
    branches: list[_Branch] = [{}]
    for part in parts:
        branches = [merged for left in branches for right in part if (merged := _both(left, right))]
        if len(branches) > MAX_FILTER_BRANCHES:
            raise ValidationFailed(
                f"The filter expands to more than {MAX_FILTER_BRANCHES} alternatives.",
                details={"filters": ["Too many alternatives (OR, in)."]},
            )
    return branches


def _expression(expression: Any) -> list[_Branch]:
    if not isinstance(expression, dict):
        raise ValidationFailed(details={"filters": ["Expected an object."]})
    parts = []
    for key, value in expression.items():
        if key in ("AND", "OR"):
            if not isinstance(value, list) or not value:
                raise ValidationFailed(details={"filters": {key: ["Expected a list of filters."]}})
            branches = [_expression(item) for item in value]
            if key == "AND":
                parts.append(_all_of(branches))
            else:
                parts.append([branch for alternative in branches for branch in alternative])
        else:
            parts.append(_leaf(key, value))
    return _all_of(parts)


def filters_from(expression: Any, *, entities: Entities = Entities()) -> list[MemoryFilters]:
    """mem0 ``filters`` (AND/OR of entity ids, ``metadata``, ``created_at``), ANDed with
    ``entities`` given outside them, as alternatives: a memory matches when it matches one.

    Every alternative must name an entity (as mem0 requires), so a filter never reaches all of
    an Engram user's memories. An empty list: nothing can match.
    """
    given = [{"metadata": entities.metadata()}] if entities.any() else [{}]
    branches = _all_of([given, _expression(expression or {})])
    entity_keys = {METADATA_PREFIX + name for name in ENTITY_NAMES}
    if any(not entity_keys & set(branch.get("metadata", {})) for branch in branches):
        raise ValidationFailed(
            "Name at least one of user_id, agent_id, run_id or app_id.",
            details={"filters": ["Each alternative needs user_id, agent_id, run_id or app_id."]},
        )
    names = {field.name for field in fields(MemoryFilters)}
    return [MemoryFilters(**{k: v for k, v in branch.items() if k in names}) for branch in branches]
