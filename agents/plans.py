"""Execution plans: what a client runs itself, step by step, naming server prompts by id only.

A plan is ``{agent, steps: [{action, template_id, variables, data_from_step}]}``. An ``llm``
step asks the server to run a template (by ``template_id``, e.g. ``agent.tasks@v1``) on its
``variables`` (values starting with ``$`` name the request's inputs, ``$message``); other
steps are client actions fed by an earlier step's output (``data_from_step``). Plans hold no
user data, so they are cached (LRU) by the request's shape and shared.

Playbooks are prebuilt plans for common jobs; a playbook spanning several agents needs the
tier's batch builder.
"""

from dataclasses import dataclass
from typing import Any

from django.conf import settings

from accounts.models import User
from agents import prompts
from agents.actions import ACTION_TYPES
from agents.registry import AgentSpec
from agents.selectors import agents_allowed
from billing.tiers import allowance
from core.errors import NotFound, QuotaExceeded, ValidationFailed
from core.lru import Lru

# Client steps: the actions (agents/actions.py), reading context, applying a step's actions.
PLAN_ACTIONS = ("llm", "collect", "apply_actions", *ACTION_TYPES)


class ExecutionPlanBuilder:
    def __init__(self, agent: str) -> None:
        self.agent = agent
        self.steps: list[dict[str, Any]] = []

    def add_step(self, action: str, params: dict[str, Any] | None = None) -> "ExecutionPlanBuilder":
        self.steps.append(
            {"action": action, "template_id": None, "variables": params, "data_from_step": None}
        )
        return self

    def add_llm_step(
        self, template_id: str, variables: dict[str, Any], data_from_step: int | None = None
    ) -> "ExecutionPlanBuilder":
        ref = prompts.template(template_id).ref  # an unknown template fails here, not at the client
        self.steps.append(
            {
                "action": "llm",
                "template_id": ref,
                "variables": variables,
                "data_from_step": data_from_step,
            }
        )
        return self

    def add_data_step(self, action: str, data_from_step: int) -> "ExecutionPlanBuilder":
        self.steps.append(
            {
                "action": action,
                "template_id": None,
                "variables": None,
                "data_from_step": data_from_step,
            }
        )
        return self

    def build(self) -> dict[str, Any]:
        """The plan; ValidationFailed if a step names an unknown action or a later step."""
        for index, step in enumerate(self.steps):
            source = step["data_from_step"]
            if step["action"] not in PLAN_ACTIONS:
                raise ValidationFailed(f"Step {index}: unknown action '{step['action']}'.")
            if source is not None and not 0 <= source < index:
                raise ValidationFailed(f"Step {index} reads step {source}, which is not before it.")
        return {"agent": self.agent, "steps": [dict(step) for step in self.steps]}


# Plans by the shape of the request (agent, context keys): a plan depends on nothing else.
plan_cache: Lru[tuple, dict[str, Any]] = Lru(settings.AGENTS_PLAN_CACHE_SIZE)


def agent_plan(spec: AgentSpec, context_keys: tuple[str, ...]) -> dict[str, Any]:
    """The plan for one agent answering one message with the context it was given: run the
    agent's template, then apply the actions it returns."""

    def build() -> dict[str, Any]:
        builder = ExecutionPlanBuilder(spec.name)
        if context_keys:
            builder.add_step("collect", {"context": list(context_keys)})
        builder.add_llm_step(
            spec.prompt_id,
            {"message": "$message", "context": "$context"},
            data_from_step=0 if context_keys else None,
        )
        return builder.add_data_step("apply_actions", len(builder.steps) - 1).build()

    key = ("agent", spec.name, context_keys)
    plan = plan_cache.get(key)
    if plan is None:
        plan = build()
        plan_cache.put(key, plan)
    return plan


@dataclass(frozen=True)
class Playbook:
    id: str
    name: str
    description: str
    agents: tuple[str, ...]
    plan: dict[str, Any]

    @property
    def multi_agent(self) -> bool:
        return len(self.agents) > 1


def _playbooks() -> dict[str, Playbook]:
    email = (
        ExecutionPlanBuilder("tasks")
        .add_llm_step("playbook.email_to_task", {"email": "$input"})
        .add_data_step("create_record", 0)
        .build()
    )
    weekly = (
        ExecutionPlanBuilder("tasks")
        .add_step("collect", {"context": ["recent_tasks", "checkpoints", "projects"]})
        .add_llm_step("playbook.weekly_report", {"data": "$step"}, data_from_step=0)
        .add_data_step("send_notification", 1)
        .build()
    )
    checkpoints = (
        ExecutionPlanBuilder("checkpoints")
        .add_llm_step("playbook.project_checkpoints", {"project": "$input"})
        .add_data_step("create_record", 0)
        .build()
    )
    return {
        playbook.id: playbook
        for playbook in (
            Playbook(
                "email-to-task",
                "Create a task from an email",
                "Turns what an email asks of you into one task with a priority and due date.",
                ("tasks",),
                email,
            ),
            Playbook(
                "weekly-report",
                "Weekly report",
                "A Markdown report of the week's tasks, projects and checkpoints, sent as a "
                "notification.",
                ("tasks", "projects", "checkpoints"),
                weekly,
            ),
            Playbook(
                "project-checkpoints",
                "Plan a project's checkpoints",
                "Three to seven suggested milestones for a project, for you to approve.",
                ("checkpoints",),
                checkpoints,
            ),
        )
    }


PLAYBOOKS = _playbooks()


def playbooks_allowed(user: User) -> list[Playbook]:
    """The playbooks whose agents the user's tier includes (several agents: the batch builder)."""
    usable = {spec.name for spec in agents_allowed(user)}
    builder = allowance(user, "batch_builder").allowed
    return [
        playbook
        for playbook in PLAYBOOKS.values()
        if set(playbook.agents) <= usable and (builder or not playbook.multi_agent)
    ]


def playbook_get(user: User, playbook_id: str) -> Playbook:
    """A playbook the user may use: NotFound when there is none, QuotaExceeded (naming the
    tier) when the user's plan does not include it."""
    playbook = PLAYBOOKS.get(playbook_id)
    if playbook is None:
        raise NotFound("No playbook with this id.")
    if playbook not in playbooks_allowed(user):
        raise QuotaExceeded(
            f"The {user.tier} plan does not include the playbook '{playbook.name}'.",
            details={
                "feature": "batch_builder" if playbook.multi_agent else "agents",
                "tier": user.tier,
            },
        )
    return playbook
