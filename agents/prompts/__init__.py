"""Server-side prompt templates: ``<id>.v<version>.txt`` files in this folder.

Clients see template ids and versions (``agent.tasks@v1``), never the text. The newest version
of each id is the one used; older files stay so a plan made with one can be explained.
Variables are ``{name}`` (``{{`` for a literal brace).
"""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import NotFound

FOLDER = Path(__file__).resolve().parent
_NAME = re.compile(r"^(?P<id>[a-z0-9_.]+)\.v(?P<version>\d+)\.txt$")


@dataclass(frozen=True)
class Template:
    id: str
    version: int
    text: str

    @property
    def ref(self) -> str:
        return f"{self.id}@v{self.version}"

    @property
    def variables(self) -> list[str]:
        return sorted(set(re.findall(r"(?<!\{)\{([a-z_]+)\}(?!\})", self.text)))

    def render(self, **variables: Any) -> str:
        return self.text.format_map({name: variables.get(name, "") for name in self.variables})


def _load() -> dict[str, Template]:
    newest: dict[str, Template] = {}
    for path in sorted(FOLDER.glob("*.txt")):
        match = _NAME.match(path.name)
        if match is None:
            raise ValueError(f"Prompt file {path.name} is not named <id>.v<version>.txt")
        template = Template(match["id"], int(match["version"]), path.read_text().strip())
        if template.id not in newest or newest[template.id].version < template.version:
            newest[template.id] = template
    return newest


TEMPLATES = _load()


def template(template_id: str) -> Template:
    try:
        return TEMPLATES[template_id]
    except KeyError:
        raise NotFound(f"No prompt template '{template_id}'.") from None


def all_texts() -> list[str]:
    """Every template's text: what the sanitizer must never let out."""
    return [t.text for t in TEMPLATES.values()]
