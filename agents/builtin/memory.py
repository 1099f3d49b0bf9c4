"""Engram's own agent: what the user told their assistants before, and what to remember now."""

from typing import Any

from agents.builtin.common import parameters
from agents.registry import AgentSpec, Tool, ToolOutcome, TurnContext, registry, write_outcome

SEARCH_LIMIT = 20


async def _search(arguments: dict[str, Any], context: TurnContext) -> ToolOutcome:
    if context.search_memories is None:
        return ToolOutcome.refused("Memory search is off for this user.")
    found = await context.search_memories(arguments["query"], arguments.get("top_k", 5))
    return ToolOutcome(result={"memories": found, "count": len(found)})


def _remember(arguments: dict[str, Any], context: TurnContext) -> ToolOutcome:
    data = {"content": arguments["content"], "tags": arguments.get("tags", [])}
    return write_outcome({"proposed": "remember"}, {"type": "remember", "data": data})


TOOLS = (
    Tool(
        "search_memories",
        "Search what the user told their assistants before (facts, preferences, history).",
        parameters(
            ["query"],
            query={"type": "string", "minLength": 1, "maxLength": 1000},
            top_k={"type": "integer", "minimum": 1, "maximum": SEARCH_LIMIT},
        ),
        _search,
    ),
    Tool(
        "remember",
        "Propose a short, self-contained fact about the user to remember.",
        parameters(
            ["content"],
            content={"type": "string", "minLength": 1, "maxLength": 2000},
            tags={"type": "array", "items": {"type": "string", "maxLength": 50}, "maxItems": 10},
        ),
        _remember,
        writes=True,
    ),
)

AGENT = registry.register(
    AgentSpec(
        name="memory",
        description="Knows the user: searches what they told their assistants before and "
        "remembers new facts and preferences.",
        prompt_id="agent.memory",
        tools=TOOLS,
        position=0,
        examples=(
            "What do you know about my coffee preferences?",
            "Remember that my daughter's birthday is on June 4",
            "What did I say about my trip to Lisbon?",
            "Remember I prefer window seats",
            "Do you remember the name of my dentist?",
            "What have I told you about my family?",
            "Remember that I am allergic to cats",
            "Do you recall where I went on holiday?",
            "Keep in mind that I prefer mornings for meetings",
            "What do you know about my hobbies?",
            "Remember that my partner's name is Alex",
            "What did I say about my health?",
            "Don't forget that I don't drink alcohol",
            "What are my food preferences?",
            "Remember my favourite colour is green",
            "Have I mentioned my employer to you?",
            "What did I tell you about my plans to move?",
            "Make a note for yourself that I'm a night owl",
            "What books or films have I said I like?",
            "Remember that I'm learning the guitar",
        ),
    )
)
