"""The model catalog over HTTP: list, one model, status, and loading local models."""

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from core.api import ApiView
from core.schema import EventStream
from core.sse import STREAM_RENDERERS, Step, event_stream_response, sse_event
from llm.api.serializers import (
    ModelListOutput,
    ModelLoadOutput,
    ModelOutput,
    ModelStatusOutput,
    status_body,
)
from llm.loading import LoadState, current_load, model_load_start
from llm.selectors import (
    ModelListing,
    ModelState,
    ModelStatus,
    model_listing,
    model_listings,
    model_status,
    status_of,
)

MODEL_ID = OpenApiParameter(
    "model_id",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="The catalog id; may contain '/' and ':' (meta-llama/llama-3.1-8b-instruct, "
    "llama3.1:8b), sent as they are.",
    # A real id, so that a schema-driven client (the fuzz test) reaches past the 404.
    examples=[OpenApiExample("A local model", value="llama3.1:8b")],
)
LOAD_PROGRESS_INTERVAL = 0.25  # seconds between two looks at a running load


class ModelView(ApiView):
    scope_family = "chat"


class ModelListView(ModelView):
    @extend_schema(
        tags=["models"],
        summary="The model catalog, with what this user can use",
        operation_id="models_list",
        responses={200: ModelListOutput},
    )
    def get(self, request: Request) -> Response:
        return Response(ModelListOutput({"models": model_listings(request.user)}).data)


class ModelDetailView(ModelView):
    @extend_schema(
        tags=["models"],
        operation_id="models_retrieve",
        parameters=[MODEL_ID],
        responses={200: ModelOutput},
    )
    def get(self, request: Request, model_id: str) -> Response:
        return Response(ModelOutput(model_listing(request.user, model_id)).data)


class ModelStatusView(ModelView):
    @extend_schema(
        tags=["models"],
        summary="Whether the model is ready, and a local model's load progress",
        operation_id="models_status",
        description="Remote models are `available` or `unavailable` (with the reason). Local "
        "models are `not_loaded`, `loading` (with progress), `loaded` or `error`; this asks "
        "Ollama whether it has the model.",
        parameters=[MODEL_ID],
        responses={200: ModelStatusOutput},
    )
    def get(self, request: Request, model_id: str) -> Response:
        return Response(status_body(model_status(request.user, model_id)))


class ModelLoadView(ModelView):
    @extend_schema(
        tags=["models"],
        summary="Start pulling a local model into Ollama",
        operation_id="models_load",
        description="Answers at once; the pull runs in the background. Calling it while a pull "
        "of the model runs returns that pull. Follow it with `load/stream` or `status`.",
        parameters=[MODEL_ID],
        request=None,
        responses={202: ModelLoadOutput},
    )
    def post(self, request: Request, model_id: str) -> Response:
        job = model_load_start(model=model_listing(request.user, model_id).model)
        body = {
            "model_id": job.model_id,
            "job_id": job.job_id,
            "status": job.state.value,
            "stream_url": reverse("llm:model-load-stream", kwargs={"model_id": job.model_id}),
        }
        return Response(ModelLoadOutput(body).data, status=202)


class ModelLoadStreamView(ModelView):
    renderer_classes = STREAM_RENDERERS

    @extend_schema(
        tags=["models"],
        summary="A local model's load progress, as server-sent events",
        operation_id="models_load_stream",
        description="Events, each with the body of `status` as JSON data: `progress` while a "
        "pull runs (whenever it changes), then one of `complete` (loaded), `error` (the pull "
        "failed), or `status` (no pull is running: the model's current status), after which "
        "the stream ends. A `: keep-alive` comment comes every 15 s of silence.",
        parameters=[MODEL_ID],
        responses={
            (200, "text/event-stream"): OpenApiResponse(
                EventStream(("progress", "complete", "error", "status"), ModelStatusOutput),
                description="`event: progress` / `complete` / `error` / `status`, each with "
                "the body of `status` as its data",
            )
        },
    )
    def get(self, request: Request, model_id: str):
        listing = model_listing(request.user, model_id)
        return event_stream_response(
            request, _load_events(listing), interval=LOAD_PROGRESS_INTERVAL
        )


def _load_events(listing: ModelListing) -> Step:
    """Progress events while a load runs, then one final event; see ModelLoadStreamView."""
    last: dict | None = None
    final_events = {ModelState.LOADED: "complete", ModelState.ERROR: "error"}

    def step() -> tuple[list[bytes], bool]:
        nonlocal last
        job = current_load(listing.model.id)
        if job is None or job.state != LoadState.LOADING:
            status = status_of(listing)
            return [sse_event(final_events.get(status.state, "status"), status_body(status))], True
        body = status_body(
            ModelStatus(listing.model.id, ModelState.LOADING, listing.availability, job)
        )
        if body == last:
            return [], False
        last = body
        return [sse_event("progress", body)], False

    return step
