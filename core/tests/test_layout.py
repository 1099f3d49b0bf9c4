"""Who may import whom (docs/architecture.md, Layout): a module of one part imports only the
parts below it.

Read from the source, so a new ``import chat`` under memories fails here before review. Tests,
benchmarks and the test helpers are free to reach any part; ``config`` wires everything.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Each part and the parts it may import (besides itself).
MAY_IMPORT: dict[str, set[str]] = {
    "core": set(),
    "providers": {"core"},  # core.logging.redact only (upstream messages are scrubbed); no app
    "accounts": {"billing", "core"},
    "billing": {"providers", "accounts", "core"},  # providers.payments: Stripe
    "llm": {"providers", "accounts", "billing", "core"},
    # Organisations, seats, SSO; below memories, which keeps each team's memories in its space.
    "teams": {"accounts", "billing", "core"},
    "memories": {"llm", "providers", "teams", "accounts", "billing", "core"},
    "chat": {"llm", "memories", "providers", "teams", "accounts", "billing", "core"},
    # The tasks and projects agents act on the server's tasks when asked (records: server).
    "agents": {"llm", "memories", "tasks", "providers", "teams", "accounts", "billing", "core"},
    "tasks": {"llm", "memories", "teams", "accounts", "billing", "core"},
    "backups": {"providers", "accounts", "billing", "core"},
    "marketplace": {"providers", "accounts", "billing", "backups", "core"},
    # The MCP server and mem0's API: other doors to memories' (and tasks') services and selectors.
    "interop": {"memories", "tasks", "llm", "teams", "accounts", "billing", "core"},
    # The connect handshake hands a client a scoped API key.
    "connect": {"accounts", "core"},
    # Deleting an account reaches every domain that keeps a user's things; only web imports it.
    "deletion": {"memories", "teams", "marketplace", "accounts", "billing", "core"},
    # The operators' dashboard reads every domain; nothing imports it.
    "operations": {
        "chat",
        "memories",
        "tasks",
        "llm",
        "providers",
        "teams",
        "accounts",
        "billing",
        "core",
    },
    # The web app: one more interface over every app's services and selectors; nothing imports it.
    "web": {
        "chat",
        "memories",
        "tasks",
        "teams",
        "llm",
        "providers",
        "accounts",
        "billing",
        "marketplace",
        "deletion",
        "core",
    },
}
FREE = {"config", "testing", "bench"}
PARTS = set(MAY_IMPORT) | FREE


def _imported_parts(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        else:
            continue
        found += [(node.lineno, module.split(".")[0]) for module in modules]
    return found


def _modules(part: str) -> list[Path]:
    return [path for path in (ROOT / part).rglob("*.py") if "tests" not in path.parts]


def _violations(part: str) -> list[str]:
    allowed = MAY_IMPORT[part] | {part}
    return [
        f"{path.relative_to(ROOT)}:{line} imports {target}"
        for path in _modules(part)
        for line, target in _imported_parts(ast.parse(path.read_text(), str(path)))
        if target in PARTS and target not in allowed
    ]


def test_every_part_of_the_project_has_a_rule():
    packages = {path.parent.name for path in ROOT.glob("*/__init__.py")}
    missing = sorted(packages - PARTS)
    assert not missing, f"Add {missing} to MAY_IMPORT and docs/architecture.md."


@pytest.mark.parametrize("part", sorted(MAY_IMPORT))
def test_a_part_imports_only_the_parts_below_it(part):
    assert _violations(part) == []


def _local_imports_of_other_parts(part: str) -> list[str]:
    """Imports of another part inside a function: the way a circle is hidden. AppConfig.ready
    is the exception Django asks for (registering tasks, checks, schema extensions)."""
    found = []
    for path in _modules(part):
        if path.name == "apps.py":
            continue
        tree = ast.parse(path.read_text(), str(path))
        for function in ast.walk(tree):
            if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                found += [
                    f"{path.relative_to(ROOT)}:{line} imports {target} in {function.name}()"
                    for line, target in _imported_parts(function)
                    if target in PARTS and target != part
                ]
    return found


@pytest.mark.parametrize("part", sorted(MAY_IMPORT))
def test_no_part_imports_another_inside_a_function(part):
    assert _local_imports_of_other_parts(part) == []


def test_the_rule_catches_memories_importing_chat(tmp_path, monkeypatch):
    (tmp_path / "memories").mkdir()
    (tmp_path / "memories" / "asks.py").write_text("from chat.models import Thread\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert _violations("memories") == ["memories/asks.py:1 imports chat"]
