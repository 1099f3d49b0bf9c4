"""Every example in README.md and docs/ is run, names the test that exercises it, or says why it
cannot run here (testing/docs.py describes the markers)."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from accounts.services import api_key_create, user_register
from testing.docs import REPO, Block, Marker, blocks, broken_links, examples, pages, parse_marker

EXAMPLES = examples()
RUN = [block for block in EXAMPLES if block.marker and block.marker.kind == "run"]
TESTED_BY = [block for block in EXAMPLES if block.marker and block.marker.kind == "tested-by"]
RUN_PAGES = sorted({str(block.path) for block in RUN})

# What the examples write for the server and an API key, replaced by the live server's.
DOCUMENTED_URL = "http://127.0.0.1:8000"
DOCUMENTED_WS_URL = "ws://127.0.0.1:8000"
DOCUMENTED_KEY = "egm_your_key"
# Every curl of an example must succeed: an HTTP error fails the example (and shows its body).
BASH_PROLOGUE = 'set -euo pipefail\ncurl() { command curl --fail-with-body "$@"; }\n'
SCOPES = ["memories:read", "memories:write", "chat", "storage:read", "storage:write"]


def test_markers_are_read_and_a_malformed_one_is_refused():
    assert parse_marker("<!-- example: run -->") == Marker("run")
    assert parse_marker('<!-- example: tested-by a/test_b.py::test_c key="x y" -->') == Marker(
        "tested-by", test="a/test_b.py::test_c", key="x y"
    )
    assert parse_marker("<!-- example: not-run (no Docker) -->") == Marker(
        "not-run", reason="no Docker"
    )
    assert parse_marker("<!-- a comment -->") is None
    for malformed in ("run now", "not-run", "tested-by a/test_b.py::test_c"):
        with pytest.raises(ValueError):
            parse_marker(f"<!-- example: {malformed} -->")


def test_a_block_keeps_its_marker_and_its_own_indentation(tmp_path: Path):
    page = tmp_path / "page.md"
    page.write_text(
        "1. A step:\n\n   <!-- example: run -->\n   ```python\n   if True:\n       pass\n   ```\n\n"
        "```text\ntree/\n```\n\n```bash\nls\n```\n"
    )

    found = blocks(page)

    assert [(b.line, b.lang, b.marker, b.is_example) for b in found] == [
        (4, "python", Marker("run"), True),
        (9, "text", None, False),
        (13, "bash", None, True),
    ]
    assert found[0].text == "if True:\n    pass\n"


def test_every_example_says_how_it_is_checked():
    unmarked = [block.where for block in EXAMPLES if block.marker is None]
    assert not unmarked, f"Put <!-- example: ... --> above these blocks: {unmarked}"


def test_every_relative_link_leads_somewhere():
    broken = {str(page): links for page in pages() if (links := broken_links(page))}
    assert not broken, f"Links to a missing file or heading: {broken}"


@pytest.mark.parametrize("block", TESTED_BY, ids=lambda block: block.where)
def test_the_named_test_exists_and_exercises_the_example(block: Block):
    path, name = block.marker.test.split("::")
    assert (REPO / path).is_file(), f"{block.where}: no {path}"
    source = (REPO / path).read_text()
    tree = ast.parse(source)
    functions = {
        node.name: ast.get_source_segment(source, node)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    # The test's own body, and the module's tables it is parametrized with.
    module_level = [
        ast.get_source_segment(source, node)
        for node in tree.body
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    ]
    assert name in functions, f"{block.where}: {path} has no {name}"
    assert block.marker.key in block.text, f"{block.where}: the block does not contain its key"
    test_source = "\n".join([functions[name], *module_level])
    assert block.marker.key in test_source, f"{block.where}: {name} never mentions the key"


@pytest.fixture(scope="module")
def server(engram_env, engram) -> str:
    return engram


@pytest.fixture(scope="module")
def engram_env():
    """The examples register accounts from one address, more than login's 5 a minute."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUTH_RATE_LIMIT", "1000/m")
        patch.setenv("MEM0_TELEMETRY", "false")
        yield


def substituted(block: Block, url: str, key: str) -> str:
    text = block.text.replace(DOCUMENTED_URL, url).replace(DOCUMENTED_KEY, key)
    return text.replace(DOCUMENTED_WS_URL, url.replace("http://", "ws://", 1))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("page", RUN_PAGES)
def test_the_pages_examples_run(page: str, server: str, tmp_path: Path):
    """A page's shell examples run in order in one bash (a variable one sets, the next reads),
    then its Python examples, each on its own, with the official clients."""
    user = user_register(email="reader@example.com", password="a long passphrase")
    user.tier = "self_hosted"  # what a server without billing gives every account
    user.save(update_fields=["tier"])
    _, key = api_key_create(user=user, name="docs", scopes=SCOPES)
    blocks = [block for block in RUN if str(block.path) == page]
    shell = [block for block in blocks if block.lang in {"bash", "sh", "console"}]
    python = [block for block in blocks if block.lang == "python"]
    assert len(shell) + len(python) == len(blocks), f"{page}: only bash and python examples run"
    env = {**os.environ, "MEM0_TELEMETRY": "false"}
    if shell:
        script = BASH_PROLOGUE + "".join(
            f"# {block.where}\n{substituted(block, server, key)}" for block in shell
        )
        ran = subprocess.run(
            ["bash", "-c", script],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert ran.returncode == 0, f"{page}:\n{script}\n{ran.stdout}\n{ran.stderr}"
    for block in python:
        ran = subprocess.run(
            [sys.executable, "-c", substituted(block, server, key)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert ran.returncode == 0, f"{block.where}:\n{ran.stdout}\n{ran.stderr}"
