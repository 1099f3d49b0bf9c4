from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import Persona
from agents.actions import ACTION_TYPES, TABLES
from agents.models import AgentRun, RunMode
from core.pagination import PageQuerySerializer
from memories.api.serializers import TeamScopeField

CONTEXT_ITEMS = 1_000  # records per context list: the client sends what the agent needs
MESSAGE_CHARS = 20_000


def _records(help_text: str) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.DictField(), required=False, max_length=CONTEXT_ITEMS, help_text=help_text
    )


class HistoryTurn(serializers.Serializer):
    role = serializers.ChoiceField(choices=["user", "assistant"])
    content = serializers.CharField(
        max_length=MESSAGE_CHARS, allow_blank=True, trim_whitespace=False
    )


class ContextInput(serializers.Serializer):
    """What the client keeps on the device and sends for this request; never stored."""

    user_profile = serializers.DictField(
        required=False, help_text="Anything about the user; `timezone` (IANA) sets 'today'."
    )
    relevant_documents = serializers.ListField(
        child=serializers.CharField(max_length=MESSAGE_CHARS), required=False, max_length=50
    )
    recent_tasks = _records(
        "Tasks: id, title, description, status (todo|in_progress|done), priority, due_date (ms), "
        "project_id, assignees, comments [{id, author, content}]."
    )
    projects = _records("Projects: id, name, client_id, status (active|archived).")
    notes = _records("Notes: id, title, content (Markdown), project_id.")
    checkpoints = _records("Checkpoints: id, project_id, title, date (ms), is_approved.")
    conversation_history = HistoryTurn(many=True, required=False, max_length=100)


class AgentChatInput(serializers.Serializer):
    message = serializers.CharField(max_length=MESSAGE_CHARS)
    context = ContextInput(required=False, default=dict)
    execution_mode = serializers.ChoiceField(choices=["direct", "plan"], default="direct")
    persona = serializers.CharField(
        required=False, max_length=100, help_text="A persona's id or name."
    )
    agents = serializers.ListField(
        child=serializers.CharField(max_length=50),
        required=False,
        min_length=1,
        max_length=10,
        help_text="Skip routing: one agent, or several run as a pipeline in this order.",
    )
    include_team = TeamScopeField(
        help_text="Team memories recalled beside yours (in the agents' prompt and their "
        "`search_memories` tool): `all` your teams, `none`, or `team:<organisation id>`; left "
        "out, the teams whose `include_in_search` you left on."
    )
    records = serializers.ChoiceField(
        choices=["client", "server"],
        default="client",
        help_text="Whose tasks and projects the `tasks` and `projects` agents use: `client` "
        "(the context's, changed through `actions`) or `server` (yours on this server, changed "
        "here and listed in `applied`; tasks they create are drafts awaiting your approval).",
    )


class ActionOutput(serializers.Serializer):
    type = serializers.ChoiceField(choices=ACTION_TYPES)
    table = serializers.ChoiceField(choices=TABLES, required=False)
    agent = serializers.CharField(required=False)
    data = serializers.DictField()


class ConfirmedActionOutput(ActionOutput):
    applied = serializers.BooleanField(
        required=False, help_text="True: done on the server's records; nothing to apply."
    )


class ProposedActionOutput(ActionOutput):
    id = serializers.UUIDField(help_text="Confirm it by this id, once the user agreed.")
    on_server = serializers.BooleanField(
        required=False, help_text="True: confirming applies it to the server's records."
    )


class ActionConfirmInput(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.UUIDField(),
        min_length=1,
        max_length=100,
        help_text="The ids of proposed actions the user confirmed.",
    )


class ActionConfirmOutput(serializers.Serializer):
    actions = ConfirmedActionOutput(
        many=True, help_text="The confirmed actions, in the order asked."
    )


class AgentUsageOutput(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    cost_usd = serializers.DecimalField(max_digits=12, decimal_places=6, coerce_to_string=False)


class DirectOutput(serializers.Serializer):
    response = serializers.CharField()
    actions = ActionOutput(many=True)
    proposed_actions = ProposedActionOutput(
        many=True,
        help_text="Destructive actions (deletions): show each to the user, and apply it only "
        "as `POST /api/v1/agents/actions/confirm` answers it once they agree.",
    )
    applied = ActionOutput(
        many=True,
        required=False,
        help_text="With `records: server`: the changes made to your tasks and projects on the "
        "server (the records as they now are); nothing for the client to apply.",
    )
    agent = serializers.CharField(help_text="The agent that answered (the first of a pipeline).")
    agents = serializers.ListField(child=serializers.CharField())
    usage = AgentUsageOutput()
    run_id = serializers.UUIDField()


class PlanStepOutput(serializers.Serializer):
    action = serializers.CharField()
    template_id = serializers.CharField(
        allow_null=True, help_text="A server template's id and version; never its text."
    )
    variables = serializers.DictField(allow_null=True)
    data_from_step = serializers.IntegerField(allow_null=True)


class ExecutionPlanOutput(serializers.Serializer):
    agent = serializers.CharField()
    steps = PlanStepOutput(many=True)


class PlanTurnOutput(ExecutionPlanOutput):
    run_id = serializers.UUIDField()


class AgentOutput(serializers.Serializer):
    name = serializers.CharField(source="spec.name")
    description = serializers.CharField(source="spec.description")
    tools = serializers.SerializerMethodField()

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_tools(self, listing) -> list[str]:
        return [tool.name for tool in listing.spec.tools]


class AgentListOutput(serializers.Serializer):
    agents = AgentOutput(many=True)


class PlaybookOutput(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    agents = serializers.ListField(child=serializers.CharField())
    plan = ExecutionPlanOutput()


class PlaybookListOutput(serializers.Serializer):
    playbooks = PlaybookOutput(many=True)


class PersonaInput(serializers.ModelSerializer):
    class Meta:
        model = Persona
        fields = ["name", "system_prompt", "default_model", "temperature"]
        extra_kwargs = {"temperature": {"min_value": 0.0, "max_value": 2.0}}

    def validate_name(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.")
        return value.strip()


class PersonaOutput(serializers.ModelSerializer):
    class Meta:
        model = Persona
        fields = [
            "id",
            "name",
            "system_prompt",
            "default_model",
            "temperature",
            "created_at",
            "updated_at",
        ]


class PersonaListOutput(serializers.Serializer):
    personas = PersonaOutput(many=True)


class RunOutput(serializers.ModelSerializer):
    execution_mode = serializers.ChoiceField(source="mode", choices=RunMode.choices)

    class Meta:
        model = AgentRun
        fields = [
            "id",
            "execution_mode",
            "transport",
            "agents",
            "route_method",
            "route_confidence",
            "model_id",
            "persona_id",
            "tools_called",
            "actions",
            "iterations",
            "prompt_tokens",
            "completion_tokens",
            "cost_usd",
            "duration_ms",
            "llm_ms",
            "outcome",
            "error_code",
            "created_at",
            "expires_at",
        ]


class RunPageOutput(serializers.Serializer):
    results = RunOutput(many=True)
    next_cursor = serializers.CharField(allow_null=True)
    has_more = serializers.BooleanField()


RunListQuery = PageQuerySerializer
