"""The projects agent: list, get, create, update, archive and (reluctantly) delete projects."""

from typing import Any

from agents.builtin.common import (
    FLAG,
    ID,
    NO_ARGUMENTS,
    changed,
    created,
    find,
    matching,
    missing,
    parameters,
)
from agents.registry import AgentSpec, Tool, ToolOutcome, TurnContext, registry, write_outcome

KEY = "projects"
STATUS = {"enum": ["active", "archived"]}
FIELDS = {
    "name": {"type": "string", "minLength": 1, "maxLength": 300},
    "client_id": ID,
    "status": STATUS,
}
ARCHIVE_FIRST = (
    "Projects are archived, not deleted: call update_project with status 'archived'. Only if "
    "the user explicitly asked to delete it for good, call delete_project again with "
    "confirmed_by_user true."
)


def _list(arguments: dict[str, Any], context: TurnContext) -> ToolOutcome:
    found = matching(context.records(KEY), client_id=arguments.get("client_id"))
    if not arguments.get("include_archived"):
        found = [p for p in found if p.get("status") != "archived"]
    return ToolOutcome(result={"projects": found, "count": len(found)})


def _list_all(arguments: dict[str, Any], context: TurnContext) -> ToolOutcome:
    found = context.records(KEY)
    return ToolOutcome(result={"projects": found, "count": len(found)})


def _get(arguments: dict[str, Any], context: TurnContext) -> ToolOutcome:
    project = find(context, KEY, arguments["project_id"])
    return (
        ToolOutcome({"project": project})
        if project
        else missing("project", arguments["project_id"])
    )


def _delete(arguments: dict[str, Any], context: TurnContext) -> ToolOutcome:
    """Deleting loses the project's history: an active project is archived unless the user
    said to delete it."""
    project = find(context, KEY, arguments["project_id"])
    if project is None:
        return missing("project", arguments["project_id"])
    if project.get("status") != "archived" and not arguments.get("confirmed_by_user"):
        return ToolOutcome.refused(ARCHIVE_FIRST)
    return write_outcome(
        {"deleted": arguments["project_id"]},
        {"type": "delete_record", "table": "projects", "data": {"id": arguments["project_id"]}},
    )


TOOLS = (
    Tool(
        "list_projects",
        "List projects, optionally of one client; archived ones only when asked.",
        parameters(client_id=ID, include_archived=FLAG),
        _list,
    ),
    Tool(
        "list_all_projects", "List every project, archived ones included.", NO_ARGUMENTS, _list_all
    ),
    Tool("get_project", "One project by id.", parameters(["project_id"], project_id=ID), _get),
    Tool(
        "create_project",
        "Create a project.",
        parameters(["name"], name=FIELDS["name"], client_id=ID),
        created("projects", "project"),
        writes=True,
    ),
    Tool(
        "update_project",
        "Change a project's fields; archive it with status 'archived' (preferred to deleting).",
        parameters(["project_id"], project_id=ID, **FIELDS),
        changed("projects", KEY, "project_id", "project"),
        writes=True,
    ),
    Tool(
        "delete_project",
        "Delete a project for good. Prefer archiving (update_project, status 'archived'); "
        "delete only when the user explicitly asks, with confirmed_by_user true.",
        parameters(["project_id"], project_id=ID, confirmed_by_user=FLAG),
        _delete,
        writes=True,
    ),
)

AGENT = registry.register(
    AgentSpec(
        name="projects",
        description="Manages projects: list, get, create, update, archive, delete.",
        prompt_id="agent.projects",
        tools=TOOLS,
        position=3,
        examples=(
            "Start a new project called Garden Redesign",
            "Archive the old marketing project",
            "Which projects do I have for Acme?",
            "Rename the website project to Website 2.0",
            "Show all my projects including archived ones",
            "Create a project for the new client",
            "Archive the finished project",
            "List the projects of client Contoso",
            "Rename the project to Phoenix",
            "Which projects are active?",
            "Set up a project for my thesis",
            "Close out the event project, we're done with it",
            "Show the project details of the app project",
            "Reactivate the archived project",
            "Delete the empty project permanently",
            "Which client does the redesign project belong to?",
            "Show every project, archived or not",
            "Open a new project for the fundraiser",
            "Move the project to a different client",
            "How many projects do I have?",
        ),
    )
)
