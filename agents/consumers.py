"""Agents over a WebSocket at /ws/agents/ (and /api/v1/chat/stream, where the cloud design's
client connects): the request is a frame, the answer streams back.

Client frames: a request ``{"message", "context"?, "execution_mode"?, "persona"?, "agents"?}``
(the first frame; another may follow once the answer is done), ``{"type": "cancel"}``, and
``{"type": "confirm", "ids"}`` for proposed actions the user agreed to (at any time).
Server frames: ``{"type": "token", "token"}`` as the answer is written, then
``{"done": true, "response", "actions", "proposed_actions", "agent", "agents", "usage",
"run_id"}`` (a plan: ``{"done": true, "plan", "run_id"}``); ``{"type": "confirmed", "actions"}``
answering a confirm; ``{"type": "error", "code", "message", "details"}``;
``{"type": "cancelled", "run_id"}``; and ``{"type": "ping"}`` every 30 s. Cancelling, or
closing the socket, closes the upstream model call. Same authentication as chat's socket.
"""

import asyncio
import contextlib
import time
from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async

from accounts.ratelimit import user_rate_limit
from agents import services
from agents.api.serializers import ActionConfirmInput, AgentChatInput
from agents.api.views import result_body, turn_request
from agents.loop import LoopState
from agents.orchestrator import AgentTurn, orchestrate
from core.db import release_connections
from core.errors import EngramError, ErrorCode
from core.websocket import SocketConsumer


def _released(search):
    """The memory search, giving its database connection back as soon as it has searched."""

    async def run(query: str, top_k: int) -> list[dict[str, Any]]:
        try:
            return await search(query, top_k)
        finally:
            await sync_to_async(release_connections)()

    return run


class AgentConsumer(SocketConsumer):
    running: asyncio.Task | None = None
    # A request is answering until its last frame goes out (done, error or cancelled), not
    # until its task ends: the task still gives its connections back after that frame, and a
    # client may send its next request as soon as it has the answer.
    answering = False

    async def receive_json(self, content: dict[str, Any], **kwargs) -> None:
        if content.get("type") == "cancel":
            await self._cancel()
        elif not await self.still_authenticated():
            return
        elif content.get("type") == "confirm":
            self.start(self._confirm(content))
        elif self.answering:
            await self.send_error(ErrorCode.CONFLICT, "A request is running; wait or cancel it.")
        else:
            self.answering = True
            self.running = self.start(self._turn(content))
            self.running.add_done_callback(self._turn_ended)

    def _turn_ended(self, task: asyncio.Task) -> None:
        # A turn that ended without its last frame (a bug) must not block the socket; an older
        # turn ending after a newer one started must not unblock it.
        if self.running is task:
            self._answered()

    def _answered(self) -> None:
        self.answering = False

    async def _last(self, frame: dict[str, Any]) -> None:
        self._answered()
        await self.send_json(frame)

    async def _last_failure(self, exc: BaseException, what: str) -> None:
        self._answered()
        await self.send_failure(exc, what)

    async def _turn(self, frame: dict[str, Any]) -> None:
        """Prepare and answer one request. Its database work runs on a thread of its own, and
        every connection that thread took is given back when the turn ends, however it ends."""
        async with ThreadSensitiveContext():
            try:
                turn = await sync_to_async(self._prepare)(frame)
            except Exception as exc:
                await self._last_failure(exc, "Preparing an agent turn")
                return
            try:
                await self._answer(turn)
            finally:
                await asyncio.shield(sync_to_async(release_connections)())

    def _prepare(self, frame: dict[str, Any]) -> AgentTurn:
        try:
            serializer = AgentChatInput(data=frame)
            if not serializer.is_valid():
                raise EngramError("The request frame is not valid.", details=serializer.errors)
            user_rate_limit(self.user)
            turn = services.agent_turn_prepare(
                user=self.user,
                request=turn_request(serializer.validated_data),
                transport="websocket",
                scopes=self._scopes(),
            )
        finally:
            release_connections()  # none is held while the answer streams
        if turn.search_memories is not None:
            turn.search_memories = _released(turn.search_memories)
        return turn

    def _scopes(self) -> tuple[str, ...] | None:
        credential = self.scope.get("credential")
        return credential.scopes if credential is not None else None

    async def _confirm(self, frame: dict[str, Any]) -> None:
        async with ThreadSensitiveContext():
            try:
                actions = await sync_to_async(self._confirmed)(frame)
            except Exception as exc:
                await self.send_failure(exc, "Confirming agent actions")
            else:
                await self.send_json({"type": "confirmed", "actions": actions})

    def _confirmed(self, frame: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            serializer = ActionConfirmInput(data=frame)
            if not serializer.is_valid():
                raise EngramError("The confirm frame is not valid.", details=serializer.errors)
            return services.agent_actions_confirm(
                user=self.user, ids=serializer.validated_data["ids"], scopes=self._scopes()
            )
        finally:
            release_connections()

    async def _answer(self, turn: AgentTurn) -> None:
        state, started = LoopState(), time.perf_counter()

        async def token(delta: str) -> None:
            await self.send_json({"type": "token", "token": delta})

        finish = sync_to_async(services.agent_turn_finish)
        try:
            result = await orchestrate(turn, state, on_token=token)
        except asyncio.CancelledError:
            # Shielded: the run is recorded as cancelled even though this task was cancelled.
            await asyncio.shield(finish(turn=turn, started=started, state=state, cancelled=True))
            raise
        except Exception as exc:
            await finish(turn=turn, started=started, state=state, error=exc)
            await self._last_failure(exc, "An agent turn")
            return
        run = await finish(turn=turn, started=started, state=state, result=result)
        if result.plan is not None:
            await self._last({"done": True, "plan": result.plan, "run_id": str(run.pk)})
            return
        await self._last({"done": True, **result_body(result, run)})

    async def _cancel(self) -> None:
        task = self.running
        if not self.answering or task is None:
            await self.send_error(ErrorCode.NOT_FOUND, "No request is running.")
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await self._last({"type": "cancelled"})
