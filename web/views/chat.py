"""Chat: the threads, and a thread's page. The page's script streams an answer from the API
(POST /api/v1/threads/{id}/models/{model}/messages, SSE, with this session and its CSRF token);
without scripts the form posts here and the answer is waited for. The memories each answer was
given are listed under it."""

from asgiref.sync import async_to_sync
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from chat import selectors as chat_selectors
from chat import services as chat_services
from chat import streaming
from chat.models import Message, Thread
from core.errors import EngramError, NotFound
from core.pagination import paginate
from llm import selectors as llm_selectors
from memories import selectors as memory_selectors
from teams.selectors import readable_spaces, team_names_of
from web.forms import ChatForm
from web.views.common import flash_error, page, post_only, render_page

THREADS_SHOWN = 50
MESSAGES_SHOWN = 50
# A message that could not be sent without scripts (the page reloads with why), by thread: the
# box holds it again rather than losing what the person wrote.
UNSENT = "web_unsent_message"


@page("chat")
def thread_list(request: HttpRequest) -> HttpResponse:
    threads = paginate(
        chat_selectors.threads_of(request.user),
        cursor=None,
        limit=THREADS_SHOWN,
        order_field="updated_at",
    ).items
    return render_page(request, "web/chat/threads.html", {"threads": threads})


@post_only
@page("chat")
def thread_new(request: HttpRequest) -> HttpResponse:
    # A second click opens the empty conversation the first made instead of another one.
    thread = chat_selectors.thread_unused(request.user) or chat_services.thread_create(
        user=request.user
    )
    return redirect("web:thread", thread_id=thread.pk)


def _models(request: HttpRequest) -> list:
    """The catalog as the user sees it, usable models first."""
    listings = llm_selectors.model_listings(request.user)
    return sorted(listings, key=lambda listing: not listing.availability.available)


@page("chat")
def thread_detail(request: HttpRequest, thread_id: str) -> HttpResponse:
    thread = chat_selectors.thread_get(request.user, thread_id)
    models = _models(request)
    usable = [listing.model.id for listing in models if listing.availability.available]
    # The conversation the person left, whether or not its model can answer now (each model has
    # its own in a thread); a new thread starts with the first model that can.
    model_id = (
        request.GET.get("model")
        or chat_selectors.thread_last_model(thread)
        or (usable[0] if usable else "")
    )
    history = paginate(
        chat_selectors.messages_of(thread, model_id), cursor=None, limit=MESSAGES_SHOWN
    ).items
    context = {
        "thread": thread,
        "models": models,
        "model_id": model_id,
        "usable": bool(usable),
        "transcript": list(reversed(history)),
        "form": ChatForm(initial={"model": model_id, "content": _unsent(request, thread)}),
        "stream_url": reverse("chat:messages", kwargs={"thread_id": thread.pk, "model_id": "M"}),
    }
    return render_page(request, "web/chat/thread.html", context)


def _unsent(request: HttpRequest, thread: Thread) -> str:
    unsent = request.session.pop(UNSENT, None) or {}
    return unsent.get("content", "") if unsent.get("thread") == str(thread.pk) else ""


@post_only
@page("chat")
def thread_send(request: HttpRequest, thread_id: str) -> HttpResponse:
    """Without scripts: the whole answer, then the thread again."""
    thread = chat_selectors.thread_get(request.user, thread_id)
    form = ChatForm(request.POST)
    model_id = request.POST.get("model", "")
    if form.is_valid():
        try:
            turn = chat_services.turn_prepare(
                user=request.user,
                thread=thread,
                model_id=form.cleaned_data["model"],
                content=form.cleaned_data["content"],
                temperature=None,
            )
            result = async_to_sync(streaming.collect)(turn)
        except EngramError as error:
            flash_error(request, error)
            unsent = {"thread": str(thread.pk), "content": form.cleaned_data["content"]}
            request.session[UNSENT] = unsent
        else:
            if result.error is not None:
                flash_error(request, result.error)
    else:
        messages.error(request, "Write a message first.")
    return redirect(f"{reverse('web:thread', kwargs={'thread_id': thread.pk})}?model={model_id}")


@page("chat")
def answer_text(request: HttpRequest, thread_id: str, message_id: str) -> HttpResponse:
    """One answer formatted, as the page shows it (chat.js swaps it in once the answer's stream
    ends: one renderer, the server's)."""
    thread = chat_selectors.thread_get(request.user, thread_id)
    answer = chat_selectors.thread_message_get(thread, message_id)
    if answer.role != Message.Role.ASSISTANT:  # the person's own words are shown as written
        raise NotFound("No such answer.")
    return render_page(request, "web/chat/_answer.html", {"answer": answer})


@page("chat")
def answer_memories(request: HttpRequest, thread_id: str, message_id: str) -> HttpResponse:
    """The memories one answer was given (a fragment under the answer)."""
    thread = chat_selectors.thread_get(request.user, thread_id)
    answer = chat_selectors.thread_message_get(thread, message_id)
    # Whose memories an answer may have been given: the person's, and their teams' spaces.
    spaces = readable_spaces(user=request.user, include="all")
    names = team_names_of(user=request.user)
    team_of = {space.space.pk: names.get(space.organisation_id, "") for space in spaces}
    found = memory_selectors.memories_by_id(
        owners=[request.user, *(space.space for space in spaces)],
        memory_ids=[item["id"] for item in answer.memories_used],
    )
    used = []
    for item in answer.memories_used:
        memory = found.get(str(item["id"]))  # None: forgotten since, or no longer readable
        team = team_of.get(memory.user_id, "") if memory is not None else ""
        used.append({"memory": memory, "team": team, "score": item.get("score")})
    return render_page(request, "web/chat/_used.html", {"used": used})


@post_only
@page("chat")
def thread_rename(request: HttpRequest, thread_id: str) -> HttpResponse:
    thread = chat_selectors.thread_get(request.user, thread_id)
    title = request.POST.get("title", "").strip()
    if not title or "\x00" in title:
        messages.error(request, "Give the conversation a title (without NUL characters).")
    else:
        chat_services.thread_rename(thread=thread, title=title)
        messages.success(request, "The conversation is renamed.")
    return redirect("web:thread", thread_id=thread.pk)


@post_only
@page("chat")
def thread_delete(request: HttpRequest, thread_id: str) -> HttpResponse:
    thread = chat_selectors.thread_get(request.user, thread_id)
    chat_services.thread_delete(thread=thread)
    messages.success(
        request,
        "The conversation is deleted. What it saved as memories stays: forget those on Memories.",
    )
    return redirect("web:chat")
