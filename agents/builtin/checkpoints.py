"""The checkpoints agent: a project's milestones (``checkpoints`` in the context)."""

from typing import Any

from agents.builtin.common import (
    FLAG,
    ID,
    MS_TIMESTAMP,
    change_tools,
    created,
    matching,
    parameters,
)
from agents.registry import AgentSpec, Tool, ToolOutcome, TurnContext, registry

KEY = "checkpoints"
FIELDS = {
    "title": {"type": "string", "minLength": 1, "maxLength": 500},
    "date": MS_TIMESTAMP,
    "is_ai_suggested": FLAG,
    "is_approved": FLAG,
}


def _list(arguments: dict[str, Any], context: TurnContext) -> ToolOutcome:
    found = matching(context.records(KEY), project_id=arguments.get("project_id"))
    found.sort(key=lambda c: (c.get("date") is None, c.get("date") or 0))
    return ToolOutcome(result={"checkpoints": found, "count": len(found)})


TOOLS = (
    Tool(
        "list_checkpoints",
        "List the checkpoints (milestones) of a project, by date.",
        parameters(project_id={"type": "string"}),
        _list,
    ),
    Tool(
        "create_checkpoint",
        "Create a checkpoint in a project; date in ms. Suggested ones await the user's approval.",
        parameters(["project_id", "title", "date"], project_id=ID, **FIELDS),
        created("checkpoints", "checkpoint"),
        writes=True,
    ),
    *change_tools(
        "checkpoints", KEY, "checkpoint", FIELDS, " Approve a suggested one with is_approved."
    ),
)

AGENT = registry.register(
    AgentSpec(
        name="checkpoints",
        description="Manages project checkpoints (milestones): list, create, update, delete.",
        prompt_id="agent.checkpoints",
        tools=TOOLS,
        position=4,
        examples=(
            "Add a milestone for the beta launch on March 3",
            "Which checkpoints does the website project have?",
            "Move the release checkpoint to next Friday",
            "Plan the milestones of my thesis project",
            "Approve the suggested checkpoint",
            "Add a milestone for the prototype",
            "What are the checkpoints of the launch project?",
            "Move the milestone to next month",
            "Delete the design review checkpoint",
            "Suggest milestones for the renovation project",
            "Approve the suggested checkpoint for testing",
            "Set a milestone date for the final delivery",
            "Break the project into phases with dates",
            "Which milestones still need approval?",
            "Propose a timeline of key dates for the project",
            "Reschedule the go-live milestone",
            "Add a checkpoint for the midterm review",
            "What is the next milestone of my thesis?",
            "Rename the first checkpoint",
            "Lay out the project phases and their deadlines",
        ),
    )
)
