"""The notes agent: Markdown notes; a note is read before it is changed, so nothing is lost."""

from typing import Any

from agents.builtin.common import (
    ID,
    TEXT,
    created,
    find,
    matching,
    missing,
    parameters,
    removed,
)
from agents.registry import AgentSpec, Tool, ToolOutcome, TurnContext, registry, write_outcome

KEY = "notes"
TITLE = {"type": "string", "minLength": 1, "maxLength": 500}
READ_FIRST = "Call get_note for this note first, and keep the parts of its content to preserve."


def _list(arguments: dict[str, Any], context: TurnContext) -> ToolOutcome:
    found = matching(context.records(KEY), project_id=arguments.get("project_id"))
    # Titles only: whole notes are read one at a time with get_note.
    listed = [{k: n.get(k) for k in ("id", "title", "project_id", "updated_at")} for n in found]
    return ToolOutcome(result={"notes": listed, "count": len(listed)})


def _get(arguments: dict[str, Any], context: TurnContext) -> ToolOutcome:
    note = find(context, KEY, arguments["note_id"])
    if note is None:
        return missing("note", arguments["note_id"])
    context.notes_read.add(arguments["note_id"])
    return ToolOutcome(result={"note": note})


def _update(arguments: dict[str, Any], context: TurnContext) -> ToolOutcome:
    note_id = arguments.pop("note_id")
    if find(context, KEY, note_id) is None:
        return missing("note", note_id)
    if note_id not in context.notes_read:
        return ToolOutcome.refused(READ_FIRST)
    if not arguments:
        return ToolOutcome.refused("Nothing to change: give a title or content.")
    return write_outcome(
        {"updated": note_id},
        {"type": "update_record", "table": "notes", "data": {"id": note_id, **arguments}},
    )


TOOLS = (
    Tool(
        "list_notes",
        "List notes (titles), optionally of one project.",
        parameters(project_id=ID),
        _list,
    ),
    Tool(
        "get_note",
        "One note with its whole Markdown content.",
        parameters(["note_id"], note_id=ID),
        _get,
    ),
    Tool(
        "create_note",
        "Create a note; content is Markdown.",
        parameters(["title", "content"], title=TITLE, content=TEXT, project_id=ID),
        created("notes", "note"),
        writes=True,
    ),
    Tool(
        "update_note",
        "Replace a note's title or content. Call get_note first and keep what should stay.",
        parameters(["note_id"], note_id=ID, title=TITLE, content=TEXT),
        _update,
        writes=True,
    ),
    Tool(
        "delete_note",
        "Delete one note.",
        parameters(["note_id"], note_id=ID),
        removed("notes", KEY, "note_id", "note"),
        writes=True,
    ),
)

AGENT = registry.register(
    AgentSpec(
        name="notes",
        description="Manages notes: list, get, create, update, delete.",
        prompt_id="agent.notes",
        tools=TOOLS,
        position=2,
        examples=(
            "Write a note with the meeting minutes",
            "Add the new phone number to my contacts note",
            "What did I write in the note about the API design?",
            "Delete the scratch note",
            "Summarise my research notes for the thesis",
            "Take a note of the book recommendations",
            "Open the note about the kickoff meeting",
            "Add a paragraph to my ideas note",
            "Edit the note with my packing list",
            "Write down these instructions in a note",
            "Show me the note about onboarding",
            "Change the title of my draft note",
            "Put these lecture notes into a document",
            "Append a line to the meeting notes",
            "What does my note on deployment say?",
            "Create a Markdown note with the agenda",
            "Read my journal entry from Sunday",
            "Remove the old notes of the archived project",
            "List the notes of the research project",
            "Jot this down in a note: the code is 4471",
        ),
    )
)
