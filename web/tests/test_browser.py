"""The web app in a real browser: Debian's Chromium driven by Playwright against a live server
that asks the fake OpenAI-compatible server. One long flow, as a person goes through it (each
Chromium start costs seconds): sign up, add, search, edit and revert, chat, an API key used
from the openai SDK, export and import, forget everything; then another person sees none of it.
Every page is checked by axe-core (no serious or critical violation), must fit a 390 px phone,
and is kept as screenshots at 1400 and 390 px in test-artifacts/web/ (not committed)."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from openai import OpenAI

from testing.browser import chromium_launched, chromium_required
from testing.fake_openai import Reply
from testing.fixtures import SERVER_KEY
from testing.live import REPO, live_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.heavy(45)]
AXE = REPO / "web" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = REPO / "test-artifacts" / "web"
PASSWORD = "a long passphrase for the test"
READER_ZONE = "America/Los_Angeles"  # the browser's: times are shown in it
SERIOUS = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.filter(v => ['serious', 'critical'].includes(v.impact))
    .map(v => `${v.id}: ${v.nodes.map(n => n.target.join(' ')).join(', ')}`);
}"""
OVERFLOW = """() => document.documentElement.scrollWidth - document.documentElement.clientWidth"""


@pytest.fixture
def site(tmp_path, fake_openai):
    chromium_required()
    if not AXE.exists():
        pytest.skip("web/node_modules is not installed (`make install` runs npm ci)")
    from playwright.sync_api import sync_playwright

    env = {
        "OPENAI_BASE_URL": fake_openai.base_url,
        "OPENAI_API_KEY": SERVER_KEY,
        "EMBEDDING_BACKEND": "hashing",
        "LLM_MAX_RETRIES": "0",
        "LOG_LEVEL": "WARNING",
        # Every memory may go into a prompt: the hashing embedder's scores are not the model's.
        "CHAT_MEMORY_MIN_SCORE": "0",
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with live_server(env, tmp_path / "server.log") as server, sync_playwright() as playwright:
        browser = chromium_launched(playwright)
        try:
            yield server.url, browser
        finally:
            browser.close()


class Person:
    """One person's browser: every page they reach is checked and photographed."""

    def __init__(self, browser, base: str, scheme: str = "light", signed_in_as=None) -> None:
        self.base = base
        self.context = browser.new_context(
            timezone_id=READER_ZONE,
            color_scheme=scheme,
            viewport={"width": 1400, "height": 1000},
            accept_downloads=True,
            storage_state=signed_in_as.context.storage_state() if signed_in_as else None,
        )
        # Through the DevTools protocol, so the pages' CSP (scripts from 'self' only) allows it.
        self.context.add_init_script(path=str(AXE))
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("console", self._console)
        self.page.on(
            "response", lambda r: r.status >= 400 and self.problems.append(f"{r.status} {r.url}")
        )
        self.page.on("pageerror", lambda error: self.problems.append(str(error)))
        self.accessibility: dict[str, list[str]] = {}
        self.overflow: dict[str, int] = {}

    def _console(self, message) -> None:
        # A failed load is reported with its address by the response handler.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(message.text)

    def go(self, path: str) -> None:
        self.page.goto(f"{self.base}{path}")

    def look(self, name: str) -> None:
        """axe-core on the page as it is, and screenshots at 1400 and 390 px."""
        page = self.page
        page.wait_for_load_state()
        if found := page.evaluate(SERIOUS):
            self.accessibility[name] = found
        page.screenshot(path=str(ARTIFACTS / f"{name}-1400.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        if (extra := page.evaluate(OVERFLOW)) > 0:
            self.overflow[name] = extra
        page.screenshot(path=str(ARTIFACTS / f"{name}-390.png"), full_page=True)
        page.set_viewport_size({"width": 1400, "height": 1000})

    def sign_up(self, email: str) -> None:
        self.go("/account/signup")
        self.page.get_by_label("Email").fill(email)
        self.page.get_by_label("Password").fill(PASSWORD)
        self.page.get_by_role("button", name="Create account").click()
        self.page.wait_for_url("**/memories/")

    def add(self, text: str, tags: str = "") -> None:
        self.go("/memories/new")
        self.page.get_by_label("What to remember").fill(text)
        self.page.get_by_label("Tags").fill(tags)
        self.page.get_by_role("button", name="Save").click()
        self.page.wait_for_url("**/memories/*-*/")

    def listed(self) -> list[str]:
        return self.page.locator("#results .memory p").all_inner_texts()


def test_a_person_uses_the_web_app_from_sign_up_to_forgetting_everything(
    site, fake_openai, tmp_path
):
    base, browser = site
    me = Person(browser, base)

    # Signed out, `/` says what this is and where the doors are.
    me.go("/")
    assert me.page.get_by_role("link", name="API documentation").count() == 1
    me.look("landing")
    me.go("/account/login")
    me.look("sign-in")
    me.go("/account/password/reset")
    me.look("forgot-password")
    me.sign_up("ana@example.com")
    me.look("memories-empty")

    # Add memories, then find one by a word: first, with the word highlighted.
    me.add("I moved to Porto in May.", tags="home")
    me.look("memory")
    # Its time in the reader's zone (the browser's; the page says UTC without scripts).
    created = me.page.locator("time").first
    at = datetime.fromisoformat(created.get_attribute("datetime")).astimezone(ZoneInfo(READER_ZONE))
    assert created.inner_text() == at.strftime("%Y-%m-%d %H:%M")
    me.add("My sister is called Ines and she lives in Berlin.")
    me.add("Green tea in the morning, coffee after lunch.", tags="food")
    me.go("/memories/")
    assert me.listed()[0] == "Green tea in the morning, coffee after lunch."  # newest first
    me.page.get_by_label("Search your memories").fill("Porto")
    me.page.get_by_role("button", name="Search").click()
    first = me.page.locator("#results .memory").first
    first.locator("mark").first.wait_for()
    assert first.locator("mark").first.inner_text() == "Porto"
    assert "moved to Porto" in first.inner_text()
    first.locator("summary").click()  # the score's parts, on demand
    assert "Keywords (BM25)" in first.inner_text()
    # Nothing that shares neither a word nor a meaning with the query is offered.
    assert "Green tea" not in me.page.locator("#results").inner_text()
    me.look("search")

    # Edit it (a new version), then revert to the first.
    first.get_by_role("link", name="Open this memory").click()
    me.page.get_by_label("What to remember").fill("I moved to Porto in June.")
    me.page.get_by_role("button", name="Save a new version").click()
    me.page.get_by_text("Saved as a new version.").wait_for()
    assert me.page.get_by_label("What to remember").input_value() == "I moved to Porto in June."
    me.page.get_by_role("button", name="Revert").first.click()
    me.page.get_by_text("Restored.").wait_for()
    assert me.page.get_by_label("What to remember").input_value() == "I moved to Porto in May."
    assert me.page.locator("tbody tr").count() == 3  # created, updated, reverted
    me.look("memory-history")

    # Chat: the answer streams in, with the memories it was given.
    me.go("/chat/")
    me.look("chat-threads")
    me.page.get_by_role("button", name="New conversation").click()
    me.page.wait_for_url("**/chat/*-*/")
    chat_url = me.page.url
    fake_openai.script(Reply(text="You live in **Porto**, since May."))
    question = "Where do I live, Porto?"
    me.page.get_by_label("Your message").fill(question)
    me.page.get_by_role("button", name="Send").click()
    answer = me.page.locator(".turn.assistant").last
    # Streamed as text, then shown formatted once it is whole (the model writes Markdown).
    answer.locator(".markdown strong", has_text="Porto").wait_for()
    assert answer.locator(".markdown").inner_text() == "You live in Porto, since May."
    used = answer.locator(".used-list a")
    used.first.wait_for()
    assert "I moved to Porto in May." in used.all_inner_texts()
    # The chat turn's request (the profile the user's model writes is another one).
    turn = next(request for request in fake_openai.chat_requests
                if request.json["messages"][-1]["content"] == question)  # fmt: skip
    prompt = turn.json["messages"][0]["content"]
    assert "I moved to Porto in May." in prompt
    me.look("chat")

    # An API key, shown once, used from the openai SDK at once.
    me.go("/connect/")
    me.page.get_by_label("Name").fill("SDK test")
    me.page.get_by_role("button", name="Create the key").click()
    secret = me.page.locator("#new-key").inner_text()
    assert secret.startswith("egm_")
    assert f'api_key="{secret}"' in me.page.locator("#snippet-openai").inner_text()
    assert f'base_url="{base}/v1"' in me.page.locator("#snippet-openai").inner_text()
    me.look("connect")
    client = OpenAI(base_url=f"{base}/v1", api_key=secret, max_retries=0)
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hello to the SDK test"}]
    )
    assert reply.choices[0].message.content == "Say hello to the SDK test"  # the fake echoes
    me.go("/connect/")
    assert secret not in me.page.content()  # never shown again
    me.go("/account/")
    assert me.page.get_by_role(
        "img", name="QR code of the key for your authenticator app"
    ).is_visible()
    me.look("account")

    # Export, forget everything, import it back.
    me.go("/memories/import")
    me.look("import-export")
    with me.page.expect_download() as download:
        me.page.get_by_role("link", name="Download the export").click()
    export = tmp_path / "memories.jsonl"
    download.value.save_as(export)
    assert "I moved to Porto in May." in export.read_text()
    me.go("/memories/forget")
    me.look("forget")
    me.page.get_by_label('Type "forget everything" to confirm').fill("forget everything")
    me.page.get_by_role("button", name="Forget everything").click()
    me.page.get_by_text("Forgotten:").wait_for()
    assert me.listed() == []
    me.go("/memories/import")
    me.page.get_by_label("An export").set_input_files(str(export))
    me.page.get_by_role("button", name="Import").click()
    me.page.get_by_text("Imported").wait_for()
    me.go("/memories/")
    assert "I moved to Porto in May." in me.listed()

    # Delete one, with an undo offered for a few seconds: taken, it is back.
    me.go("/memories/?q=Porto")
    me.page.locator("#results .memory", has_text="moved to Porto").get_by_role("link").click()
    me.page.wait_for_url("**/memories/*-*/")
    memory_url = me.page.url
    me.page.get_by_role("button", name="Delete this memory").click()
    me.page.get_by_role("button", name="Undo").wait_for()
    assert "I moved to Porto in May." not in me.listed()
    me.look("deleted-undo")
    me.page.get_by_role("button", name="Undo").click()
    me.page.get_by_text("Restored.").wait_for()
    assert me.page.url == memory_url

    me.go("/me/")
    me.look("what-engram-knows")
    # A task due at a time typed in the reader's own zone (America/Los_Angeles), done for XP.
    me.go("/tasks/")
    me.page.get_by_label("What to do").fill("Call the plumber")
    me.page.get_by_label("Due").fill("2026-12-24T09:30")
    me.page.get_by_role("button", name="Add").click()
    me.page.get_by_text("Added: Call the plumber").wait_for()
    assert me.page.locator('time[datetime="2026-12-24T17:30:00Z"]').inner_text() == (
        "2026-12-24 09:30"
    )
    me.look("tasks")
    plumber = me.page.locator("ul.tasks li", has_text="Call the plumber")
    plumber.get_by_role("button", name="Done", exact=False).click()
    me.page.get_by_text("Done: Call the plumber (+").wait_for()
    me.go("/teams/")
    me.look("teams")
    me.page.get_by_label("Organisation name").fill("Bee club")
    me.page.get_by_role("button", name="Create").click()
    me.page.wait_for_url("**/teams/*-*/")
    team_url = me.page.url
    me.page.get_by_label("Email address to invite").fill("bruno@example.com")
    me.page.get_by_role("button", name="Send the invitation").click()
    me.page.get_by_text("An invitation is on its way to bruno@example.com.").wait_for()
    me.look("team")
    me.go("/plan/")
    me.look("plan")

    # The dark theme passes the same checks.
    dark = Person(browser, base, scheme="dark", signed_in_as=me)
    for name, path in [
        ("search-dark", "/memories/?q=Porto"),
        ("memory-dark", memory_url.removeprefix(base)),
        ("chat-dark", chat_url.removeprefix(base)),
        ("connect-dark", "/connect/"),
        ("team-dark", team_url.removeprefix(base)),
        ("tasks-dark", "/tasks/"),
    ]:
        dark.go(path)
        dark.look(name)

    # Another person sees none of it.
    other = Person(browser, base)
    other.sign_up("bruno@example.com")
    assert other.listed() == []
    other.page.get_by_label("Search your memories").fill("Porto")
    other.page.get_by_role("button", name="Search").click()
    other.page.get_by_text("Nothing matches").wait_for()
    other.go(memory_url.removeprefix(base))
    assert other.page.get_by_role("heading", name="Not found").count() == 1
    assert other.problems == [f"404 {memory_url}"]  # that page's own answer
    other.problems.clear()
    other.look("not-found")

    # And the first forgets everything, for good.
    me.go("/memories/forget")
    me.page.get_by_label('Type "forget everything" to confirm').fill("forget everything")
    me.page.get_by_role("button", name="Forget everything").click()
    me.page.get_by_text("Forgotten:").wait_for()
    assert me.listed() == []

    # The other deletes their account: signed out, on the landing page, never to sign in again.
    other.go("/account/")
    deletion = other.page.get_by_role("region", name="Delete your account")
    deletion.get_by_label("Your email address, to confirm").fill("bruno@example.com")
    deletion.get_by_label("Current password").fill("not the password")
    deletion.get_by_role("button", name="Delete my account").click()
    refused = deletion.get_by_text("The password is wrong.")
    refused.wait_for()
    assert refused.evaluate("e => e.getBoundingClientRect().bottom <= window.innerHeight")
    other.problems.remove(f"400 {base}/account/delete")  # that page's own answer
    deletion.get_by_label("Your email address, to confirm").fill("bruno@example.com")
    deletion.get_by_label("Current password").fill(PASSWORD)
    deletion.get_by_role("button", name="Delete my account").click()
    other.page.get_by_text("Your account and everything in it are deleted.").wait_for()
    other.look("account-deleted")
    other.go("/memories/")
    assert other.page.url == f"{base}/account/login?next=/memories/"

    people = [me, dark, other]
    assert [person.accessibility for person in people] == [{}, {}, {}]
    assert [person.overflow for person in people] == [{}, {}, {}]
    assert [person.problems for person in people] == [[], [], []]
    # No memory's text, nor what was searched for, in the server's log (its access lines too).
    log = (tmp_path / "server.log").read_text()
    assert "GET /memories/" in log and "Porto" not in log and "sister" not in log
