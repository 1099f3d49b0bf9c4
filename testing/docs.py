"""The code blocks of README.md and docs/*.md, each with the marker that says how it is checked.

A fenced block is an example (a command, code, a configuration file or a sample of output) unless
its language is ``text`` (a diagram, a directory tree). Every example carries, on the last
non-blank line above its fence, one of:

- ``<!-- example: run -->``: testing/tests/test_docs_examples.py runs it against a live server;
- ``<!-- example: tested-by app/tests/test_x.py::test_name key="..." -->``: that test exercises
  it, and ``key`` appears both in the block and in the test function's source;
- ``<!-- example: not-run (the reason) -->``: it cannot run here, and the reason says why.
"""

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOT_EXAMPLES = {"text"}
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>```+|~~~+)(?P<lang>[\w+-]*)\s*$")
MARKER = re.compile(r"^\s*<!--\s*example:\s*(?P<kind>run|tested-by|not-run)(?P<rest>.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Marker:
    kind: str  # "run", "tested-by" or "not-run"
    test: str = ""  # tested-by: "path/to/test_x.py::test_name"
    key: str = ""  # tested-by: a string the block and the test both contain
    reason: str = ""  # not-run: why


@dataclass(frozen=True)
class Block:
    path: Path  # relative to the repository
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    marker: Marker | None

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def is_example(self) -> bool:
        return self.lang not in NOT_EXAMPLES


def pages() -> list[Path]:
    """README.md and every page of docs/, relative to the repository."""
    return [Path("README.md"), *sorted(p.relative_to(REPO) for p in (REPO / "docs").glob("*.md"))]


def parse_marker(line: str) -> Marker | None:
    """The marker on ``line``, or None when it holds none. A malformed marker raises ValueError."""
    found = MARKER.match(line)
    if not found:
        return None
    kind, rest = found["kind"], found["rest"].strip()
    if kind == "run":
        if rest:
            raise ValueError(f"'run' takes nothing after it: {rest!r}")
        return Marker(kind)
    if kind == "not-run":
        reason = re.fullmatch(r"\((.+)\)", rest)
        if not reason:
            raise ValueError("'not-run' needs its reason in parentheses")
        return Marker(kind, reason=reason[1])
    words = shlex.split(rest)
    keys = [word.removeprefix("key=") for word in words[1:] if word.startswith("key=")]
    if len(words) != 2 or "::" not in words[0] or len(keys) != 1 or not keys[0]:
        raise ValueError("'tested-by' reads: tested-by path/test_x.py::test_name key=\"...\"")
    return Marker(kind, test=words[0], key=keys[0])


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of one page (``path`` relative to the repository), in order, their
    text dedented by the fence's indentation."""
    lines = (REPO / path).read_text().splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        above = next((line for line in reversed(lines[:index]) if line.strip()), "")
        closing = re.compile(rf"^\s*{re.escape(opening['fence'])}\s*$")
        end = index + 1
        while end < len(lines) and not closing.match(lines[end]):
            end += 1
        indent = len(opening["indent"])
        # A block inside a list item is indented with it; its own indentation is what is left.
        text = "\n".join(line[indent:] for line in lines[index + 1 : end])
        found.append(Block(path, index + 1, opening["lang"], text + "\n", parse_marker(above)))
        index = end + 1
    return found


LINK = re.compile(r"\]\((?!https?:|mailto:)([^)\s]+)\)")


def anchor(heading: str) -> str:
    """The anchor a git forge gives a heading (GitHub's and Gitea's rule)."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", (REPO / path).read_text(), flags=re.M | re.S)
    return {anchor(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}


def broken_links(path: Path) -> list[str]:
    """The relative links of one page whose file or heading does not exist."""
    broken = []
    for target in LINK.findall((REPO / path).read_text()):
        file, _, fragment = target.partition("#")
        resolved = (REPO / path).parent / file if file else REPO / path
        if not resolved.exists():
            broken.append(target)
            continue
        page = resolved.resolve().relative_to(REPO)
        if fragment and resolved.suffix == ".md" and fragment not in anchors(page):
            broken.append(target)
    return broken


def examples() -> list[Block]:
    """Every example of every page."""
    return [block for page in pages() for block in blocks(page) if block.is_example]
