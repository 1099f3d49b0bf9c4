"""Agents over HTTP: a turn (`POST /chat`), the agents, playbooks, personas and runs."""

import time

from asgiref.sync import async_to_sync
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import key_scopes
from accounts.selectors import persona_get, personas_of
from agents import plans, selectors, services
from agents.api import serializers as s
from agents.loop import LoopState
from agents.models import AgentRun
from agents.orchestrator import TurnResult, orchestrate
from core.api import validated
from core.pagination import page_body, paginate

TAG = "agents"


class AgentsView(APIView):
    scope_family = "chat"


def result_body(result: TurnResult, run: AgentRun) -> dict:
    """A direct turn's answer, as the HTTP response and the WebSocket's last frame carry it."""
    usage = {
        "prompt_tokens": run.prompt_tokens,
        "completion_tokens": run.completion_tokens,
        "total_tokens": run.prompt_tokens + run.completion_tokens,
        "cost_usd": float(run.cost_usd),
    }
    return {
        "response": result.response,
        "actions": result.actions,
        "proposed_actions": result.proposals,
        "applied": result.applied,
        "agent": result.agents[0],
        "agents": result.agents,
        "usage": usage,
        "run_id": str(run.pk),
    }


def turn_request(data: dict) -> services.TurnRequest:
    return services.TurnRequest(
        message=data["message"],
        context=data.get("context") or {},
        execution_mode=data["execution_mode"],
        persona=data.get("persona"),
        agents=tuple(data.get("agents") or ()),
        records=data.get("records", "client"),
        include_team=data.get("include_team"),
    )


class AgentChatView(AgentsView):
    @extend_schema(
        tags=[TAG],
        operation_id="agents_chat",
        summary="One message to the agents: an answer with actions, or an execution plan",
        description="`direct`: the routed agent (or `agents`, as a pipeline) answers, with the "
        "actions for the client to apply. `plan`: a plan whose prompts are template ids. "
        "Errors: 403 `QUOTA_EXCEEDED` names the tier; 502 `AGENT_FAILED` when the agent "
        "cannot finish (iteration cap, malformed tool calls twice): no actions then.",
        request=s.AgentChatInput,
        responses={
            200: PolymorphicProxySerializer(
                component_name="AgentChatOutput",
                serializers=[s.DirectOutput, s.PlanTurnOutput],
                resource_type_field_name=None,
            )
        },
    )
    def post(self, request: Request) -> Response:
        data = validated(s.AgentChatInput, request.data)
        turn = services.agent_turn_prepare(
            user=request.user, request=turn_request(data), scopes=key_scopes(request.auth)
        )
        state, started = LoopState(), time.perf_counter()
        try:
            result = async_to_sync(orchestrate)(turn, state)
        except Exception as exc:
            services.agent_turn_finish(turn=turn, started=started, state=state, error=exc)
            raise
        run = services.agent_turn_finish(turn=turn, started=started, state=state, result=result)
        if result.plan is not None:
            return Response({**result.plan, "run_id": str(run.pk)})
        return Response(result_body(result, run))


class ActionConfirmView(AgentsView):
    @extend_schema(
        tags=[TAG],
        operation_id="agents_actions_confirm",
        summary="Confirm proposed actions the user agreed to: the actions to apply",
        description="A destructive action (a deletion) comes back from an agent as one of "
        "`proposed_actions`, never as an action, whatever the model wrote. Once the user has "
        "seen and agreed to it, send its id here; the answer is the action to apply. "
        "Confirming again answers the same. 404 `NOT_FOUND` names ids that are not yours.",
        request=s.ActionConfirmInput,
        responses={200: s.ActionConfirmOutput},
    )
    def post(self, request: Request) -> Response:
        data = validated(s.ActionConfirmInput, request.data)
        actions = services.agent_actions_confirm(
            user=request.user, ids=data["ids"], scopes=key_scopes(request.auth)
        )
        return Response(s.ActionConfirmOutput({"actions": actions}).data)


class AgentListView(AgentsView):
    @extend_schema(tags=[TAG], operation_id="agents_list", responses={200: s.AgentListOutput})
    def get(self, request: Request) -> Response:
        usable = [x for x in selectors.agent_listings(request.user) if x.available]
        return Response(s.AgentListOutput({"agents": usable}).data)


class RunListView(AgentsView):
    @extend_schema(
        tags=[TAG],
        operation_id="agents_runs_list",
        parameters=[s.RunListQuery],
        responses={200: s.RunPageOutput},
    )
    def get(self, request: Request) -> Response:
        query = validated(s.RunListQuery, request.query_params)
        page = paginate(
            selectors.runs_of(request.user), cursor=query.get("cursor"), limit=query["limit"]
        )
        return Response(page_body(page, s.RunOutput))


class RunDetailView(AgentsView):
    @extend_schema(tags=[TAG], operation_id="agents_runs_retrieve", responses={200: s.RunOutput})
    def get(self, request: Request, run_id: str) -> Response:
        return Response(s.RunOutput(selectors.run_get(request.user, run_id)).data)


def _playbook_body(playbook: plans.Playbook) -> dict:
    return {
        "id": playbook.id,
        "name": playbook.name,
        "description": playbook.description,
        "agents": list(playbook.agents),
        "plan": playbook.plan,
    }


class PlaybookListView(AgentsView):
    @extend_schema(
        tags=["plans"], operation_id="playbooks_list", responses={200: s.PlaybookListOutput}
    )
    def get(self, request: Request) -> Response:
        playbooks = [_playbook_body(p) for p in plans.playbooks_allowed(request.user)]
        return Response(s.PlaybookListOutput({"playbooks": playbooks}).data)


class PlaybookDetailView(AgentsView):
    @extend_schema(
        tags=["plans"], operation_id="playbooks_retrieve", responses={200: s.PlaybookOutput}
    )
    def get(self, request: Request, playbook_id: str) -> Response:
        playbook = plans.playbook_get(request.user, playbook_id)
        return Response(s.PlaybookOutput(_playbook_body(playbook)).data)


# 409 on create and rename; core.schema gives it the error body.
NAME_TAKEN = OpenApiResponse(description="You already have a persona with this name (CONFLICT).")


class PersonaListView(AgentsView):
    @extend_schema(
        tags=["personas"], operation_id="personas_list", responses={200: s.PersonaListOutput}
    )
    def get(self, request: Request) -> Response:
        personas = personas_of(request.user)
        return Response(s.PersonaListOutput({"personas": personas}).data)

    @extend_schema(
        tags=["personas"],
        request=s.PersonaInput,
        responses={201: s.PersonaOutput, 409: NAME_TAKEN},
    )
    def post(self, request: Request) -> Response:
        data = validated(s.PersonaInput, request.data)
        persona = services.persona_create(user=request.user, data=data)
        return Response(s.PersonaOutput(persona).data, status=201)


class PersonaDetailView(AgentsView):
    @extend_schema(tags=["personas"], responses={200: s.PersonaOutput})
    def get(self, request: Request, persona_id: str) -> Response:
        return Response(s.PersonaOutput(persona_get(request.user, persona_id)).data)

    @extend_schema(
        tags=["personas"],
        request=s.PersonaInput(partial=True),
        responses={200: s.PersonaOutput, 409: NAME_TAKEN},
    )
    def patch(self, request: Request, persona_id: str) -> Response:
        persona = persona_get(request.user, persona_id)
        serializer = s.PersonaInput(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        persona = services.persona_update(persona=persona, data=serializer.validated_data)
        return Response(s.PersonaOutput(persona).data)

    @extend_schema(tags=["personas"], responses={204: None})
    def delete(self, request: Request, persona_id: str) -> Response:
        services.persona_delete(persona=persona_get(request.user, persona_id))
        return Response(status=204)
