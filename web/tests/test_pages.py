"""The web app through Django's test client: sign-up and sign-in on the session, each page
answering with the CSP, CSRF on forms, and another user's objects answering 404."""

import html
import json
import re
from urllib.parse import quote

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, RequestFactory

from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from billing.tiers import Tier
from chat.models import Message
from chat.services import thread_create
from memories import selectors, services
from memories.models import Memory
from teams.models import Membership
from teams.services import invitation_create, membership_preferences_set, organisation_create
from teams.tests.conftest import join
from web.templatetags.web import highlighted
from web.views import errors

pytestmark = pytest.mark.django_db
HTML = "text/html,application/xhtml+xml,*/*;q=0.8"


def remember(user, content: str, **fields) -> Memory:
    memory, _ = services.memory_create(
        user=user, draft=services.MemoryDraft(content=content, **fields)
    )
    return memory


def test_a_visitor_signs_up_and_lands_on_their_memories():
    client = Client(HTTP_ACCEPT=HTML)

    answer = client.post(
        "/account/signup", {"email": "new@example.com", "password": "a long passphrase"}
    )

    assert answer.status_code == 302 and answer["Location"] == "/memories/"
    page = client.get("/memories/")
    assert page.status_code == 200 and b"Your memories" in page.content
    assert client.get("/").status_code == 302  # signed in: home is the memories


def test_signing_up_from_a_page_that_sent_the_visitor_goes_back_to_it():
    # The extension's connect page sends a new person to sign in; they sign up instead, and
    # used to land on their memories without the code the page was showing.
    client = Client(HTTP_ACCEPT=HTML)
    back = "/connect/extension/?code=ABCD-1234"
    sign_in = client.get(f"/account/login?next={quote(back)}")
    link = re.search(rb'href="(/account/signup[^"]*)">Create an account', sign_in.content)[
        1
    ].decode()

    answer = client.post(
        html.unescape(link),
        {"email": "new@example.com", "password": "a long passphrase", "next": back},
    )

    assert quote(back) in link
    assert answer.status_code == 302 and answer["Location"] == back
    assert b"web:memories" not in sign_in.content


def test_signing_in_with_a_wrong_password_says_so_and_a_right_one_follows_next(person):
    client = Client(HTTP_ACCEPT=HTML)

    wrong = client.post("/account/login", {"email": person.email, "password": "nope"})
    right = client.post(
        "/account/login?next=/chat/", {"email": person.email, "password": DEFAULT_PASSWORD}
    )

    assert wrong.status_code == 200 and b"Invalid email or password" in wrong.content
    assert right.status_code == 302 and right["Location"] == "/chat/"


def test_an_open_redirect_after_sign_in_goes_home_instead(person):
    client = Client(HTTP_ACCEPT=HTML)
    answer = client.post(
        "/account/login",
        {"email": person.email, "password": DEFAULT_PASSWORD, "next": "//evil.example"},
    )
    assert answer["Location"] == "/memories/"


def test_a_signed_out_visitor_is_sent_to_sign_in(db):
    answer = Client(HTTP_ACCEPT=HTML).get("/memories/")
    assert answer.status_code == 302 and answer["Location"].startswith("/account/login?next=")


def test_forgot_password_mails_a_link_to_the_reset_page_which_sets_it(person):
    client = Client(HTTP_ACCEPT=HTML)
    client.post("/account/password/reset", {"email": person.email})
    link = next(word for word in mail.outbox[-1].body.split() if "/account/password/reset/" in word)
    path = link.split("8000", 1)[1]

    answer = client.post(path, {"password1": "another long one", "password2": "another long one"})

    assert answer.status_code == 302
    person.refresh_from_db()
    assert person.check_password("another long one")
    assert client.get(path).status_code == 400  # used once


def test_sign_up_and_reset_forms_count_in_the_apis_limits(
    person, settings, still_rate_limit_window
):
    # Without them, the pages were a way around the API's limits: any number of reset mails to
    # one inbox, and accounts made by script.
    settings.AUTH_RATE_LIMIT = "3/m"
    client = Client(HTTP_ACCEPT=HTML)

    resets = [client.post("/account/password/reset", {"email": person.email}) for _ in range(5)]
    sign_ups = [
        Client(HTTP_ACCEPT=HTML).post(
            "/account/signup", {"email": f"new{i}@example.com", "password": "a long passphrase"}
        )
        for i in range(5)
    ]

    assert len(mail.outbox) == 6  # three reset mails and three sign-ups' verification mails
    assert [answer.status_code for answer in resets] == [302, 302, 302, 200, 200]
    assert b"Rate limit" in resets[-1].content
    assert [answer.status_code for answer in sign_ups] == [302, 302, 302, 200, 200]
    assert not EmailAddress.objects.filter(email="new4@example.com").exists()


def test_a_team_invitations_link_signs_in_then_joins_on_a_button(
    person, django_capture_on_commit_callbacks
):
    acme = organisation_create(owner=UserFactory(), name="Acme <ops>")
    with django_capture_on_commit_callbacks(execute=True):
        invitation_create(
            user=acme.owner, organisation_id=acme.pk, email=person.email, link_base="http://x"
        )
    link = next(w for w in mail.outbox[-1].body.split() if "/teams/invitations/accept" in w)
    path = link.removeprefix("http://x")
    client = Client(HTTP_ACCEPT=HTML)

    signed_out = client.get(path)
    client.post(signed_out["Location"], {"email": person.email, "password": DEFAULT_PASSWORD})
    asked = client.get(path)
    someone_else = Client(HTTP_ACCEPT=HTML)
    someone_else.force_login(UserFactory(email="other@example.com"))
    shown = someone_else.get(path)  # the link forwarded: it names nothing to another account
    assert not Membership.objects.filter(organisation=acme, user=person).exists()
    joined = client.post(
        "/teams/invitations/accept", {"token": asked.context["token"]}, follow=True
    )
    spent = client.post("/teams/invitations/accept", {"token": asked.context["token"]})

    assert signed_out.status_code == 302 and "/account/login?next=" in signed_out["Location"]
    assert asked.status_code == 200 and b"Join the team" in asked.content
    # The page names the team and who invited, escaped.
    assert b"to <strong>Acme &lt;ops&gt;</strong> as member" in asked.content
    assert acme.owner.email.encode() in asked.content
    assert b"Acme" not in shown.content and b"Join the team" not in shown.content
    assert Membership.objects.filter(organisation=acme, user=person).exists()
    assert b"You joined Acme &lt;ops&gt;." in joined.content
    assert spent.status_code == 404 and b"unknown, used, expired" in spent.content


def test_the_memories_an_answer_was_given_include_a_teams_and_a_forgotten_one(browser, person):
    acme = organisation_create(owner=UserFactory(), name="Acme <ops>")
    join(acme, person)
    own = remember(person, "My cat is called Mochi")
    shared = remember(acme.space, "The office wifi is called Orion")
    gone = remember(person, "Something since forgotten")
    thread = thread_create(user=person)
    answer = Message.objects.create(
        thread=thread, role=Message.Role.ASSISTANT, content="…", memories_used=[
            {"id": str(m.pk), "score": 0.5, "text": m.content} for m in (own, shared, gone)
        ],
    )  # fmt: skip
    gone.delete()

    page = browser.get(f"/chat/{thread.pk}/answers/{answer.pk}/memories")

    assert page.status_code == 200
    assert f'href="/memories/{own.pk}/"'.encode() in page.content
    # A team's memory is shown with its team (its page is the team's, not the person's).
    assert b'The office wifi is called Orion <span class="small">(Acme &lt;ops&gt;)' in page.content
    assert page.content.count(b"a memory forgotten since") == 1


def test_answers_are_shown_formatted_and_the_persons_own_words_as_written(browser, person):
    thread = thread_create(user=person)
    Message.objects.create(thread=thread, role=Message.Role.USER, content="Use **bold** <b>x</b>")
    answer = Message.objects.create(
        thread=thread, role=Message.Role.ASSISTANT,
        content="Sure: **bold**, `code` and <script>alert(1)</script>\n- [a link](https://a.example)"
        "\n- [not one](javascript:alert(1))",
    )  # fmt: skip
    stranger_thread = thread_create(user=UserFactory())
    stranger_answer = Message.objects.create(
        thread=stranger_thread, role=Message.Role.ASSISTANT, content="theirs"
    )

    page = browser.get(f"/chat/{thread.pk}/").content.decode()
    fragment = browser.get(f"/chat/{thread.pk}/answers/{answer.pk}/text")

    formatted = (
        "<p>Sure: <strong>bold</strong>, <code>code</code> and "
        "&lt;script&gt;alert(1)&lt;/script&gt;</p>\n<ul>\n"
        '<li><a href="https://a.example" rel="nofollow noopener noreferrer">a link</a></li>\n'
        "<li>[not one](javascript:alert(1))</li>\n</ul>"
    )
    assert formatted in page and formatted in fragment.content.decode()
    assert '<p class="text">Use **bold** &lt;b&gt;x&lt;/b&gt;</p>' in page
    own = Message.objects.get(thread=thread, role=Message.Role.USER)
    assert browser.get(f"/chat/{thread.pk}/answers/{own.pk}/text").status_code == 404
    assert (
        browser.get(f"/chat/{stranger_thread.pk}/answers/{stranger_answer.pk}/text").status_code
        == 404
    )


def test_a_conversation_is_renamed_and_deleted_its_memories_kept(browser, person):
    thread = thread_create(user=person)
    Message.objects.create(thread=thread, role=Message.Role.USER, content="hello")
    echo = remember(person, "We talked about bees.")
    Memory.objects.filter(pk=echo.pk).update(thread_id=thread.pk)
    theirs = thread_create(user=UserFactory())

    renamed = browser.post(f"/chat/{thread.pk}/rename", {"title": " Bees <3 "}, follow=True)
    untitled = browser.post(f"/chat/{thread.pk}/rename", {"title": "  "}, follow=True)
    nul = browser.post(f"/chat/{thread.pk}/rename", {"title": "a\x00b"}, follow=True)
    refused = [browser.post(f"/chat/{theirs.pk}/{action}", {"title": "x"})
               for action in ("rename", "delete")]  # fmt: skip
    deleted = browser.post(f"/chat/{thread.pk}/delete", follow=True)

    assert b"<h1>Bees &lt;3</h1>" in renamed.content
    assert b"Give the conversation a title" in untitled.content
    assert nul.status_code == 200 and b"without NUL characters" in nul.content
    assert [answer.status_code for answer in refused] == [404, 404]
    assert deleted.redirect_chain == [("/chat/", 302)]
    assert b"The conversation is deleted." in deleted.content
    assert not Message.objects.filter(thread_id=thread.pk).exists()
    echo.refresh_from_db()
    assert echo.thread_id is None  # the memory stays, no longer naming the conversation
    theirs.refresh_from_db()  # still there
    assert theirs.title == ""


def test_the_plan_shows_what_is_counted_and_not_a_zero_for_what_is_not(browser, person):
    # A tier with no daily limit does not count today's requests: "0 (no limit)" said nothing
    # had been used.
    person.tier = Tier.SELF_HOSTED
    person.save(update_fields=["tier"])

    page = browser.get("/plan/")

    assert b"API requests today" not in page.content
    assert b"Model requests this period" in page.content


def test_every_form_needs_its_csrf_token(person):
    client = Client(enforce_csrf_checks=True, HTTP_ACCEPT=HTML)
    client.force_login(person)

    refused = client.post("/memories/new", {"content": "no token"})
    page = client.get("/memories/new")
    token = page.cookies["csrftoken"].value
    accepted = client.post(
        "/memories/new", {"content": "with a token", "csrfmiddlewaretoken": token}
    )

    assert refused.status_code == 403
    assert accepted.status_code == 302
    saved = Memory.objects.get(user=person)
    assert saved.content == "with a token" and saved.source == "web"  # not "API"


def test_the_pages_carry_the_content_security_policy_and_no_inline_script(browser, person):
    memory = remember(person, "I moved to Porto in May.")
    thread = thread_create(user=person)
    team = organisation_create(owner=person, name="Acme")
    for path in ["/memories/", f"/memories/{memory.pk}/", "/memories/new", "/memories/import",
                 "/memories/forget", "/chat/", f"/chat/{thread.pk}/", "/connect/", "/me/",
                 "/plan/", "/connect/extension/", "/teams/", f"/teams/{team.pk}/", "/tasks/",
                 "/account/"]:  # fmt: skip
        answer = browser.get(path)
        assert answer.status_code == 200, path
        assert "script-src 'self'" in answer["Content-Security-Policy"], path
        assert b"<script>" not in answer.content and b"onclick" not in answer.content, path
        assert b"<style" not in answer.content and b"style=" not in answer.content, path


def test_another_users_memory_and_thread_are_404_and_untouched(browser):
    stranger = UserFactory()
    theirs = remember(stranger, "A stranger's secret.")
    their_thread = thread_create(user=stranger)

    answers = [
        browser.get(f"/memories/{theirs.pk}/"),
        browser.post(f"/memories/{theirs.pk}/", {"content": "mine now"}),
        browser.post(f"/memories/{theirs.pk}/delete"),
        browser.post(f"/memories/{theirs.pk}/undo"),
        browser.get(f"/chat/{their_thread.pk}/"),
        browser.get("/memories/not-a-uuid/"),
    ]

    assert [answer.status_code for answer in answers] == [404] * 6
    assert Memory.objects.get(pk=theirs.pk).content == "A stranger's secret."
    listing = browser.get("/memories/").content + browser.get("/memories/?q=secret").content
    assert b"stranger" not in listing


def test_edit_makes_a_new_version_and_revert_brings_the_old_one_back(browser, person):
    memory = remember(person, "I live in Lisbon.")
    browser.post(f"/memories/{memory.pk}/", {"content": "I live in Porto.", "tags": "home, city"})
    memory.refresh_from_db()
    first = selectors.memory_history_page(
        user=person, memory_id=memory.pk, cursor=None, limit=10
    ).items[0]

    browser.post(f"/memories/{memory.pk}/revert", {"history_id": str(first.pk)})

    memory.refresh_from_db()
    assert memory.content == "I live in Lisbon." and memory.tags == ["home", "city"]
    page = browser.get(f"/memories/{memory.pk}/").content.decode()
    assert "Reverted" in page and "Updated" in page


def test_delete_then_undo_restores_the_memory(browser, person):
    memory = remember(person, "Keep me.")

    deleted = browser.post(f"/memories/{memory.pk}/delete")
    offer = browser.get(deleted["Location"])
    undone = browser.post(f"/memories/{memory.pk}/undo")

    assert f"/memories/{memory.pk}/undo".encode() in offer.content
    assert undone.status_code == 302
    assert Memory.objects.get(pk=memory.pk).content == "Keep me."
    # Restored, the memory is no longer offered back, nor is an id that was never deleted.
    for shown in (memory.pk, "not-an-id", remember(person, "Alive").pk):
        assert b"Memory deleted." not in browser.get(f"/memories/?deleted={shown}").content
    again = browser.post(f"/memories/{memory.pk}/undo", follow=True)
    assert b"There is nothing to restore." in again.content


def test_search_shows_highlights_escaped_and_score_parts(browser, person):
    remember(person, "<b>bold</b> plans for the Porto trip")
    remember(person, "Something else entirely")

    page = browser.get("/memories/?q=porto&mode=keyword").content.decode()

    assert "<mark>Porto</mark>" in page and "<b>" not in page
    assert "Keywords (BM25)" in page


@pytest.mark.parametrize(
    ("mode", "floor", "close", "folded"),
    [("hybrid", 0.0, 1, None), ("hybrid", 1.01, 0, 1), ("keyword", 1.01, 1, None)],
)
def test_hits_below_chats_relevance_floor_are_folded_apart(
    browser, person, settings, mode, floor, close, folded
):
    settings.CHAT_MEMORY_MIN_SCORE = floor
    remember(person, "Plans for the Porto trip")

    page = browser.get(f"/memories/?q=porto&mode={mode}").content.decode()

    assert f"{close} close match" in page
    if folded:
        assert f"<summary>{folded} less related</summary>" in page
        assert "Nothing close in meaning." in page
    else:
        assert "less related" not in page


def test_search_shows_the_teams_memories_the_person_keeps_in_their_searches(browser, person):
    team = organisation_create(owner=UserFactory(), name="Acme <ops>")
    join(team, person)
    shared = remember(team.space, "The staging password rotates every Friday")
    own = remember(person, "My own staging notes")

    page = browser.get("/memories/?q=staging&mode=keyword").content.decode()

    assert "Team: Acme &lt;ops&gt;" in page and f"/memories/{shared.pk}" not in page
    assert f"/memories/{own.pk}" in page
    outsider = Client(HTTP_ACCEPT="text/html")
    outsider.force_login(UserFactory())
    assert "rotates every" not in outsider.get("/memories/?q=staging&mode=keyword").content.decode()


def test_search_in_chooses_whose_memories_a_search_covers(browser, person):
    acme = organisation_create(owner=UserFactory(), name="Acme <ops>")
    join(acme, person)
    quiet = organisation_create(owner=UserFactory(), name="Quiet")
    join(quiet, person)
    membership_preferences_set(user=person, organisation_id=quiet.pk, include_in_search=False)
    remember(acme.space, "Staging rotates on Fridays: zebra")
    remember(quiet.space, "The staging runbook: yak")
    remember(person, "My own staging notes: walrus")
    stranger = organisation_create(owner=UserFactory(), name="Elsewhere")
    remember(stranger.space, "Staging secrets: vole")
    words = {"zebra": "Acme", "yak": "Quiet", "walrus": "own", "vole": "Elsewhere"}

    def found(scope: str) -> set[str]:
        hits = browser.get(f"/memories/?q=staging&mode=keyword&team={scope}").context["hits"]
        return {
            whose for word, whose in words.items() for hit, _ in hits if word in hit.memory.content
        }

    assert found("") == {"Acme", "own"}  # the teams in their searches
    assert found("none") == {"own"}
    assert found("all") == {"Acme", "Quiet", "own"}
    assert found(f"team:{quiet.pk}") == {"Quiet", "own"}
    refused = browser.get(f"/memories/?q=staging&team=team:{stranger.pk}")
    assert refused.status_code == 400 and "hits" not in refused.context
    page = browser.get("/memories/").content.decode()
    assert 'id="id_team"' in page and "Yours and Acme &lt;ops&gt;&#x27;s" in page
    outsider = Client(HTTP_ACCEPT="text/html")
    outsider.force_login(UserFactory())
    assert 'id="id_team"' not in outsider.get("/memories/").content.decode()


def test_a_highlight_keeps_only_its_marks_as_html():
    fragment = 'x <script>alert(1)</script> & <mark>Porto</mark> <mark onclick="x">'
    assert highlighted(fragment) == (
        "x &lt;script&gt;alert(1)&lt;/script&gt; &amp; <mark>Porto</mark> "
        "&lt;mark onclick=&quot;x&quot;&gt;"
    )


def test_the_list_pages_by_cursor_and_filters_by_tag(browser, person):
    for number in range(30):
        remember(person, f"Memory number {number}", tags=["even"] if number % 2 == 0 else [])

    first = browser.get("/memories/")
    cursor = first.context["next_query"]
    second = browser.get(f"/memories/?{cursor}")
    tagged = browser.get("/memories/?tag=even")

    assert len(first.context["memories"]) == 25 and len(second.context["memories"]) == 5
    assert len(tagged.context["memories"]) == 15
    # The second page leads back to the newest, the first has nowhere newer to go.
    assert b'href="?">Newest memories</a>' in second.content
    assert b"Newest memories" not in first.content
    assert browser.get("/memories/?cursor=nonsense").status_code == 400


def test_export_then_import_round_trips(browser, person):
    remember(person, "First thing", tags=["a"])
    remember(person, "Second thing")

    export = b"".join(browser.get("/memories/export").streaming_content)
    services.memories_delete_all(user=person)
    lines = [json.loads(line) for line in export.splitlines()]

    upload = SimpleUploadedFile("memories.jsonl", export, content_type="application/x-ndjson")
    answer = browser.post("/memories/import", {"file": upload})

    assert answer.status_code == 302
    assert [line["content"] for line in lines] == ["First thing", "Second thing"]
    assert sorted(Memory.objects.filter(user=person).values_list("content", flat=True)) == [
        "First thing",
        "Second thing",
    ]


def test_an_import_names_the_line_and_the_field_of_what_is_wrong(browser, person):
    lines = [
        json.dumps({"content": "Fine"}),
        "",
        json.dumps({"content": "Too many tags", "tags": [f"t{i}" for i in range(51)]}),
        json.dumps({"content": "A long tag", "tags": ["x" * 65]}),
        json.dumps({"title": "No text at all"}),
    ]
    upload = SimpleUploadedFile("memories.jsonl", "\n".join(lines).encode())
    deep = SimpleUploadedFile("deep.jsonl", b"[" * 100_000 + b"]" * 100_000)

    only_blank = SimpleUploadedFile("blank.jsonl", b'{"content": "Fine"}\n{"title": "t"}\n')

    refused = browser.post("/memories/import", {"file": upload})
    too_deep = browser.post("/memories/import", {"file": deep})
    # Its only problem one the import itself checks (no text): named by line as well.
    blank = browser.post("/memories/import", {"file": only_blank})

    problems = refused.context["form"].errors["file"]
    assert problems[0].startswith("Line 3: tags:") and problems[1].startswith("Line 4: tags.0:")
    assert problems[2] == "Line 5: content: This field may not be blank."
    assert blank.context["form"].errors["file"] == ["Line 2: content: This field may not be blank."]
    assert too_deep.context["form"].errors["file"] == [
        "Line 1: JSON may be nested at most 64 levels deep."
    ]
    assert not Memory.objects.filter(user=person).exists()  # all or nothing


def test_a_memory_saved_on_its_page_keeps_the_apis_tag_rules(browser, person):
    too_many = browser.post(
        "/memories/new", {"content": "Tagged", "tags": ",".join(f"t{i}" for i in range(51))}
    )
    too_long = browser.post("/memories/new", {"content": "Tagged", "tags": "x" * 65})

    assert too_many.context["form"].errors["tags"] == ["A memory may have at most 50 tags."]
    assert too_long.context["form"].errors["tags"] == ["A tag may be at most 64 characters."]
    assert not Memory.objects.filter(user=person).exists()  # not saved with its tags cut


def test_odd_input_on_the_pages_gets_an_answer_not_a_server_error(browser, person):
    remember(person, "Dated")

    last_day = browser.get("/memories/?until=9999-12-31")
    nul = browser.post("/connect/provider-keys/%00/delete")

    assert last_day.status_code == 200 and len(last_day.context["memories"]) == 1
    assert nul.status_code == 302  # back to the page, saying no such key is stored


@pytest.mark.parametrize("query", ["provider=bogus", "cursor=garbage"])
def test_a_filter_or_cursor_that_is_not_valid_says_so(browser, person, query):
    # The page said "No memories here yet" to a person who has some.
    remember(person, "Kept")

    page = browser.get(f"/memories/?{query}")

    assert page.status_code == 400
    assert b"Not valid here: " + query.split("=")[0].encode() in page.content
    assert b"No memories here yet" not in page.content and b"No memory matches" not in page.content


def test_an_empty_filtered_page_says_the_filters_matched_nothing(browser, person):
    remember(person, "Tagged", tags=["kept"])

    filtered = browser.get("/memories/?tag=other").content.decode()

    assert "No memory matches these filters." in filtered and "No memories here yet" not in filtered
    assert "No memories here yet" not in browser.get("/memories/").content.decode()


def test_forget_everything_needs_the_typed_phrase(browser, person):
    remember(person, "One")
    refused = browser.post("/memories/forget", {"confirm": "yes"})
    assert refused.status_code == 200 and Memory.objects.filter(user=person).count() == 1

    browser.post("/memories/forget", {"confirm": "forget everything"})

    assert Memory.objects.filter(user=person).count() == 0


def test_an_api_key_is_shown_once_and_revoked(browser, person):
    mark = browser.get("/connect/").context["key_form"].initial["once"]
    form = {"name": "Laptop", "scopes": ["memories:read"], "once": mark}
    created = browser.post("/connect/keys", form)
    secret = created.context["secret"]
    reloaded = browser.post("/connect/keys", form)  # the page that showed it, reloaded

    assert reloaded.status_code == 302 and person.api_keys.count() == 1

    assert secret.startswith("egm_") and secret in created.content.decode()
    assert "Bearer " + secret in created.content.decode()  # the snippets have it filled in
    assert secret not in browser.get("/connect/").content.decode()
    key = person.api_keys.get()
    browser.post(f"/connect/keys/{key.pk}/revoke")
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_a_client_still_gets_json_at_the_root(db):
    answer = Client().get("/", HTTP_ACCEPT="application/json")
    assert answer.json()["links"]["api_docs"] == "/api/docs/"


def test_the_emailed_verification_link_verifies_on_a_button_not_on_the_visit(settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "optional"
    client = Client(HTTP_ACCEPT=HTML)
    client.post("/account/signup", {"email": "v@example.com", "password": "a long passphrase"})
    link = next(word for word in mail.outbox[-1].body.split() if "/account/verify-email/" in word)
    path = link.split("8000", 1)[1]

    shown = client.get(path)
    address = EmailAddress.objects.get(email="v@example.com")
    assert shown.status_code == 200 and not address.verified
    client.post(path)

    address.refresh_from_db()
    assert address.verified
    assert client.get("/account/verify-email/nonsense").status_code == 400


def test_a_used_or_expired_verification_link_offers_a_new_one(browser, person):
    # It said "sign in to be sent a new one" to a person signed in already, and signing in
    # sends nothing while verification is optional.
    page = browser.get("/account/verify-email/not-a-key-any-more")
    signed_out = Client(HTTP_ACCEPT=HTML).get("/account/verify-email/not-a-key-any-more")

    sent = browser.post("/account/verify-email/send", follow=True)

    assert page.status_code == 400 and b"Send me a new link" in page.content
    assert b"/account/login?next=/account/verify-email/not-a-key-any-more" in signed_out.content
    assert b"A new link is on its way" in sent.content
    assert mail.outbox[-1].to == [person.email]
    assert "/account/verify-email/" in mail.outbox[-1].body


def test_the_api_takes_the_session_only_with_its_csrf_token(person):
    client = Client(enforce_csrf_checks=True)
    client.force_login(person)
    token = client.get("/memories/", HTTP_ACCEPT=HTML).cookies["csrftoken"].value
    body = json.dumps({"content": "From the page's script."})

    refused = client.post("/api/v1/memories", body, content_type="application/json")
    accepted = client.post(
        "/api/v1/memories", body, content_type="application/json", HTTP_X_CSRFTOKEN=token
    )

    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "PERMISSION_DENIED"
    assert accepted.status_code == 201


def test_a_conversation_with_no_usable_model_says_what_to_do(browser, person):
    thread = thread_create(user=person, title="First")

    page = browser.get(f"/chat/{thread.pk}/")

    assert not page.context["usable"]  # no provider key, none configured on the test server
    assert 'id="no-model"' in page.content.decode() and "/connect/" in page.content.decode()


def test_a_conversation_opens_with_the_model_it_was_left_with(browser, person):
    # Each model has its own conversation in a thread: the page opened on another (the first
    # usable one, or none at all) showed an empty one.
    thread = thread_create(user=person, title="First")
    for role, content in [("user", "Hello there"), ("assistant", "Hi, how can I help?")]:
        Message.objects.create(thread=thread, role=role, content=content, model_id="gone-model")

    page = browser.get(f"/chat/{thread.pk}/").content.decode()

    assert "Hello there" in page and "Hi, how can I help?" in page


def test_a_message_that_could_not_be_sent_waits_in_the_box(browser, person):
    # Without scripts the page reloads with why: what the person wrote was gone.
    thread = thread_create(user=person, title="First")

    sent = browser.post(
        f"/chat/{thread.pk}/send", {"model": "gpt-4o-mini", "content": "My long question"}
    )
    page = browser.get(sent["Location"])
    again = browser.get(sent["Location"])

    assert b"My long question</textarea>" in page.content
    assert b"My long question</textarea>" not in again.content  # once


def test_a_browser_gets_error_pages_and_a_client_the_json_shape(person):
    browser = Client(enforce_csrf_checks=True, HTTP_ACCEPT=HTML)
    browser.force_login(person)
    client = Client()
    request = RequestFactory(HTTP_ACCEPT=HTML).get("/memories/")

    stale = browser.post("/memories/new", {"content": "Typed in an old tab"})
    lost = browser.get("/no-such-page/")
    failed = errors.server_error(request)

    assert stale.status_code == 403 and b"This form has expired" in stale.content
    assert not Memory.objects.filter(user=person).exists()
    assert lost.status_code == 404 and b"<h1>Not found</h1>" in lost.content
    assert "script-src 'self'" in lost["Content-Security-Policy"]
    assert failed.status_code == 500 and b"Something went wrong" in failed.content
    assert client.get("/no-such-page/").json()["error"]["code"] == "NOT_FOUND"
    opened = browser.get("/account/logout")  # a button's address, opened on its own
    assert opened.status_code == 405 and opened["Allow"] == "POST"
    assert b"nothing was changed" in opened.content
    assert client.get("/api/v1/nope", HTTP_ACCEPT=HTML).json()["error"]["code"] == "NOT_FOUND"


def test_new_conversation_twice_opens_the_same_empty_one(browser, person):
    first = browser.post("/chat/new")
    second = browser.post("/chat/new")

    assert first["Location"] == second["Location"]
    assert person.threads.count() == 1
    used = person.threads.get()
    used.title = "Named"
    used.save()
    assert browser.post("/chat/new")["Location"] != first["Location"]
