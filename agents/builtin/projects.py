"""The projects agent: list, get, create, update, archive and (reluctantly) delete projects.

Deleting, like every destructive action, is only proposed: the user confirms it (see
``agents.actions``), never the model. On the server's records (``records: server``) a deletion
or an archiving, once confirmed, archives the project: an agent never removes one there."""

from typing import Any

from agents.builtin import on_server
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
    removed,
    with_server_runs,
)
from agents.registry import AgentSpec, Tool, ToolOutcome, TurnContext, registry

KEY = "projects"
STATUS = {"enum": ["active", "archived"]}
FIELDS = {
    "name": {"type": "string", "minLength": 1, "maxLength": 300},
    "client_id": ID,
    "status": STATUS,
}


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


CLIENT_TOOLS = (
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
        "Propose deleting a project for good; the user is asked to confirm it. Prefer archiving "
        "(update_project, status 'archived') unless the user asks for a permanent deletion.",
        parameters(["project_id"], project_id=ID),
        removed("projects", KEY, "project_id", "project"),
        writes=True,
    ),
)

TOOLS = with_server_runs(
    CLIENT_TOOLS,
    {
        "list_projects": on_server.projects_list,
        "list_all_projects": on_server.projects_list_all,
        "get_project": on_server.project_get,
        "create_project": on_server.project_create,
        "update_project": on_server.project_update,
        "delete_project": on_server.project_delete,
    },
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
