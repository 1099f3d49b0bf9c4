"""Memories: the list (newest first, keyset pages), search with highlights and score parts,
filters, a memory's page (edit, history, revert, similar memories, delete with undo), adding,
import and export, and forgetting everything. Every read is a memories selector (search with the
person's teams: memories.spaces, as every door searches), every write a memories service; memory
text never reaches a log line from here."""

import datetime as dt
import json
import uuid
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from core.errors import EngramError, NotFound, ValidationFailed
from core.parsers import JSONInputError, json_loads
from memories import selectors, services
from memories.api import serializers as memory_serializers
from memories.api.views.common import items_to_drafts
from memories.models import Source
from memories.spaces import memories_search_scoped
from providers.embeddings import EmbeddingError
from teams.selectors import team_names_of
from web.forms import ForgetForm, ImportForm, MemoryForm, MemoryQueryForm
from web.views.common import flash_error, form_error, page, post_only, render_page

PAGE_SIZE = 25
SEARCH_RESULTS = 20
# A hit sharing neither a word nor any meaning with the query (score 0) is noise on a page a
# person reads; the API leaves that cut to its callers (min_score).
SEARCH_MIN_SCORE = 0.01
# Similar memories shown on a memory's page, and how similar they must be to be shown.
SIMILAR_SHOWN = 3
SIMILAR_FLOOR = 0.75
HISTORY_SHOWN = 50
FILTERS = ("provider", "source", "tag", "since", "until")


def _filters(data: dict[str, Any]) -> selectors.MemoryFilters:
    def day_start(day: dt.date | None) -> dt.datetime | None:
        if day is None:
            return None
        return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)

    until = data.get("until")
    if until == dt.date.max:  # up to the last day there is: no bound
        until = None
    return selectors.MemoryFilters(
        provider=data.get("provider") or None,
        source=data.get("source") or None,
        tags=[data["tag"]] if data.get("tag") else [],
        since=day_start(data.get("since")),
        until=day_start(until + dt.timedelta(days=1)) if until else None,
    )


@page("memories")
def memory_list(request: HttpRequest) -> HttpResponse:
    """Newest first, one keyset page at a time (the same cost at any depth, no count), or the
    best matches of a search; an htmx request gets only the results."""
    teams = team_names_of(user=request.user)
    form = MemoryQueryForm(request.GET, teams=teams)
    context: dict[str, Any] = {
        "form": form,
        "deleted": _deleted(request, request.GET.get("deleted", "")),
        "teams": teams,
        # An empty page then says the filters matched nothing, not that there are no memories.
        "filtered": any(request.GET.get(name) for name in FILTERS),
    }
    status = 200
    if not form.is_valid():
        # Said above the (empty) results: "no memories here yet" misled a person who has some.
        named = ", ".join(sorted(form.errors))
        form.add_error(None, f"Not valid here: {named}. Change or clear it to see your memories.")
        context["invalid"], status = True, 400
    elif query := form.cleaned_data["q"].strip():
        mode = form.cleaned_data["mode"] or "hybrid"
        try:
            # With the teams the person keeps in their searches, as everywhere they search, unless
            # they chose others.
            outcome = memories_search_scoped(
                user=request.user,
                query=query,
                include_team=form.cleaned_data["team"] or None,
                mode=mode,
                top_k=SEARCH_RESULTS,
                min_score=SEARCH_MIN_SCORE,
                filters=_filters(form.cleaned_data),
            )
        except EngramError as error:
            form_error(form, error)
            status = 400
        else:
            hits = [(scoped.hit, teams.get(scoped.organisation_id)) for scoped in outcome.hits]
            # Below chat's relevance floor a hit is shown apart, folded ("less related"): a page
            # of twenty was all "best matches" down to 0.02. Every keyword hit holds a word.
            floor = settings.CHAT_MEMORY_MIN_SCORE
            close, weaker = [], []
            for item in hits:
                (close if mode == "keyword" or item[0].score >= floor else weaker).append(item)
            context.update(hits=close, weaker=weaker, searched=True, mode=outcome.mode)
    else:
        result = selectors.memory_page(
            user=request.user,
            filters=_filters(form.cleaned_data),
            cursor=form.cleaned_data["cursor"] or None,
            limit=PAGE_SIZE,
        )
        more = request.GET.copy()
        more["cursor"] = result.next_cursor or ""
        first = request.GET.copy()
        first.pop("cursor", None)
        context.update(
            memories=result.items,
            next_query=more.urlencode(),
            more=result.has_more,
            # A later page leads back to the newest (keyset pages have no "previous").
            first_query=first.urlencode() if form.cleaned_data["cursor"] else None,
        )
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "results":
        return render_page(request, "web/memories/_results.html", context, status=status)
    return render_page(request, "web/memories/list.html", context, status=status)


@page("memories")
def memory_add(request: HttpRequest) -> HttpResponse:
    form = MemoryForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        draft = services.MemoryDraft(
            content=form.cleaned_data["content"], tags=form.cleaned_data["tags"], source=Source.WEB
        )
        try:
            memory, created = services.memory_create(user=request.user, draft=draft)
        except EngramError as error:
            form_error(form, error)
        else:
            messages.success(request, "Saved." if created else "You already had this memory.")
            return redirect("web:memory", memory_id=memory.pk)
    return render_page(request, "web/memories/add.html", {"form": form})


def _who(entry) -> str:
    if entry.job_id:
        return "extraction from a conversation"
    if entry.event == "merge":
        return "a merge"
    if entry.event == "revert":
        return "you (a revert)"
    return "you"


def _similar(request: HttpRequest, memory) -> list:
    try:
        found = selectors.memories_similar(
            user=request.user,
            texts=[memory.content],
            top_k=SIMILAR_SHOWN + 1,
            filters=selectors.MemoryFilters(),
        )[0]
    except EmbeddingError:
        return []
    return [hit for hit in found if hit.memory.pk != memory.pk and hit.score >= SIMILAR_FLOOR][
        :SIMILAR_SHOWN
    ]


@page("memories")
def memory_detail(request: HttpRequest, memory_id: str) -> HttpResponse:
    """A memory, its edit form (a save is a new version in its history), its history with who
    made each change and a revert for each, and the memories most like it."""
    memory = selectors.memory_get(user=request.user, memory_id=memory_id)
    initial = {"content": memory.content, "tags": ", ".join(memory.tags)}
    form = MemoryForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        changes = {"content": form.cleaned_data["content"], "tags": form.cleaned_data["tags"]}
        try:
            services.memory_update(memory=memory, changes=changes)
        except EngramError as error:
            form_error(form, error)
        else:
            messages.success(request, "Saved as a new version.")
            return redirect("web:memory", memory_id=memory.pk)
    history = selectors.memory_history_page(
        user=request.user, memory_id=memory.pk, cursor=None, limit=HISTORY_SHOWN
    ).items
    context = {
        "memory": memory,
        "form": form,
        "history": [(entry, _who(entry)) for entry in reversed(history)],
        "similar": _similar(request, memory),
    }
    return render_page(request, "web/memories/detail.html", context)


@post_only
@page("memories")
def memory_revert(request: HttpRequest, memory_id: str) -> HttpResponse:
    try:
        memory = services.memory_revert(
            user=request.user, memory_id=memory_id, history_id=request.POST.get("history_id", "")
        )
    except ValidationFailed as error:
        flash_error(request, error)
        return redirect("web:memory", memory_id=memory_id)
    except EngramError as error:
        if error.code == "NOT_FOUND":
            raise
        flash_error(request, error)
        return redirect("web:memories")
    messages.success(request, "Restored.")
    return redirect("web:memory", memory_id=memory.pk)


@post_only
@page("memories")
def memory_delete(request: HttpRequest, memory_id: str) -> HttpResponse:
    """Delete; the list then offers an undo for a few seconds (the history keeps what a
    revert needs to recreate it)."""
    memory = selectors.memory_get(user=request.user, memory_id=memory_id)
    services.memory_delete(memory=memory)
    return redirect(f"{reverse('web:memories')}?deleted={memory.pk}")


@post_only
@page("memories")
def memory_undelete(request: HttpRequest, memory_id: str) -> HttpResponse:
    """Undo a delete: revert to the newest history entry that still had the text."""
    key = selectors.memory_known(user=request.user, memory_id=memory_id)  # another's: 404
    if _live(request, key):
        messages.error(request, "There is nothing to restore.")
        return redirect("web:memories")
    entries = selectors.memory_history_page(
        user=request.user, memory_id=key, cursor=None, limit=HISTORY_SHOWN
    ).items
    with_text = [entry for entry in entries if entry.new_content]
    if not with_text:
        messages.error(request, "There is nothing to restore.")
        return redirect("web:memories")
    try:
        memory = services.memory_revert(
            user=request.user, memory_id=key, history_id=with_text[-1].pk
        )
    except EngramError as error:
        flash_error(request, error)
        return redirect("web:memories")
    messages.success(request, "Restored.")
    return redirect("web:memory", memory_id=memory.pk)


def _deleted(request: HttpRequest, memory_id: str) -> str:
    """``memory_id`` when it names a memory of the person's that is deleted and has a history
    to come back from (the list's "Undo" after a delete), else ""."""
    try:
        key = selectors.memory_known(user=request.user, memory_id=memory_id)
    except NotFound:
        return ""
    return "" if _live(request, key) else memory_id


def _live(request: HttpRequest, key: uuid.UUID) -> bool:
    try:
        selectors.memory_get(user=request.user, memory_id=key)
    except NotFound:
        return False
    return True


@page("memories")
def memory_export(request: HttpRequest) -> HttpResponse:
    """Every memory as JSON Lines, oldest first, streamed (the browser shows the download's
    progress); the same format as GET /api/v1/memories/export, which import reads back."""
    lines = (
        json.dumps(memory_serializers.MemorySerializer(memory).data, default=str) + "\n"
        for memory in selectors.memories_export(user=request.user)
    )
    response = StreamingHttpResponse(lines, content_type="application/x-ndjson")
    stamp = timezone.now().strftime("%Y-%m-%d")
    response["Content-Disposition"] = f'attachment; filename="engram-memories-{stamp}.jsonl"'
    return response


# Of a file's invalid lines, how many the page names.
IMPORT_ERRORS_SHOWN = 5


def _read_lines(upload) -> dict[int, Any]:
    """The file's memories by line number, read as the API reads a body (``json_loads``: its
    depth limit included)."""
    items = {}
    for number, raw in enumerate(upload, start=1):
        line = raw.strip()
        if not line:
            continue
        try:
            items[number] = json_loads(line)
        except JSONInputError as error:
            raise ValidationFailed(
                "The file is not JSON Lines.", details={"file": [f"Line {number}: {error}"]}
            ) from None
    if not items:
        raise ValidationFailed(details={"file": ["The file holds no memories."]})
    return items


def _imported(user: User, items: dict[int, Any]) -> services.ImportResult:
    """The file's memories imported as the API's import takes them; what is wrong (in their
    fields, or in the rules the import checks) is named by line and field."""
    numbers = list(items)
    try:
        drafts = items_to_drafts(
            list(items.values()), memory_serializers.MemoryImportLineSerializer
        )
        return services.memories_import(user=user, drafts=drafts)
    except ValidationFailed as error:
        problems = [
            f"Line {numbers[int(index)]}: {problem}"
            for index, detail in error.details.get("items", {}).items()
            for problem in _problems(detail)
        ]
        if not problems:
            raise
        shown = problems[:IMPORT_ERRORS_SHOWN]
        if len(problems) > len(shown):
            shown.append(f"… and {len(problems) - len(shown)} more.")
        raise ValidationFailed(error.message, details={"file": shown}) from None


def _problems(detail: Any, field: str = "") -> list[str]:
    """DRF's nested error detail as lines of "field: problem"."""
    if isinstance(detail, dict):
        return [
            line
            for name, inner in detail.items()
            for line in _problems(inner, f"{field}.{name}" if field else str(name))
        ]
    if isinstance(detail, list | tuple):
        return [line for inner in detail for line in _problems(inner, field)]
    return [f"{field}: {detail}" if field else str(detail)]


@page("memories")
def memory_import(request: HttpRequest) -> HttpResponse:
    """Import an export (the same text in the same scope folds into what is there); the page
    then follows the embedding of what came in."""
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            result = _imported(request.user, _read_lines(form.cleaned_data["file"]))
        except EngramError as error:
            form_error(form, error)
        else:
            messages.success(
                request,
                f"Imported {result.created} new memories ({result.duplicates} already there).",
            )
            return redirect("web:memory-import")
    stats = selectors.memory_stats(user=request.user)
    return render_page(request, "web/memories/import.html", {"form": form, "stats": stats})


@page("memories")
def memory_progress(request: HttpRequest) -> HttpResponse:
    """How many memories are still being made searchable (polled by the import page; 286, the
    answer that stops htmx's polling, once none are left)."""
    stats = selectors.memory_stats(user=request.user)
    done = not stats["by_status"].get("pending")
    return render_page(
        request, "web/memories/_progress.html", {"stats": stats}, status=286 if done else 200
    )


@page("memories")
def memory_forget(request: HttpRequest) -> HttpResponse:
    form = ForgetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        deleted = services.memories_delete_all(user=request.user)
        messages.success(request, f"Forgotten: {deleted} memories and their history.")
        return redirect("web:memories")
    return render_page(request, "web/memories/forget.html", {"form": form})
