"""The browser extension in a real browser: Debian's Chromium (headless) with the unpacked
extension loaded, the chat sites' hostnames mapped to a local HTTPS server that serves each
fixture page and streams the answer, and a live Engram started here.

Two browser launches: one walks connect, capture on every site, redaction, recall and
disconnect; the other the queue across a server outage. Screenshots go to test-artifacts/."""

import datetime
import http.server
import json
import ssl
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.test import Client

from accounts.services import api_key_create
from accounts.tests.factories import UserFactory
from billing.tiers import Tier
from memories.models import Memory
from testing.browser import CHROMIUM, CHROMIUM_ARGS, chromium_required
from testing.live import REPO, free_port, live_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.heavy(45)]
EXTENSION = REPO / "clients" / "browser-extension"
FIXTURES = EXTENSION / "tests" / "fixtures"
ARTIFACTS = REPO / "test-artifacts"
SITE_HOSTS = {
    "chatgpt.com": "chatgpt",
    "claude.ai": "claude",
    "gemini.google.com": "gemini",
    "grok.com": "grok",
    "localhost": "openwebui",
}
# What the prompt box of each fixture is, and how its prompt is sent (Enter, or the button).
SITES = {
    "chatgpt": ("https://chatgpt.com/c/6751-chat", "#prompt-textarea", "Enter"),
    "claude": (
        "https://claude.ai/chat/9f2e-claude",
        "fieldset .ProseMirror",
        "button[aria-label='Send message']",
    ),
    "gemini": (
        "https://gemini.google.com/app/4c1d0e",
        "rich-textarea .ql-editor",
        "button.send-button",
    ),
    "grok": (
        "https://grok.com/chat/b7a1-grok",
        "textarea[aria-label='Ask Grok anything']",
        "Enter",
    ),
    "openwebui": ("https://localhost:{port}/c/owui-42", "#chat-input", "#send-message-button"),
}


def answer_to(prompt: str) -> str:
    return f"Here is what I make of it: {prompt} That is all."


# --- The chat sites: one HTTPS server for every hostname ---------------------------------------


def _certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for the sites' names (Chromium is told to ignore the issuer)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "engram-test-sites")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in SITE_HOSTS]), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "sites.crt", directory / "sites.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class SiteHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/fixtures/fake-chat.js":
            body = (FIXTURES / "fake-chat.js").read_bytes()
            return self._send(200, body, "text/javascript")
        site = SITE_HOSTS.get(self.headers.get("Host", "").split(":")[0])
        if site is None or self.path == "/favicon.ico":
            return self._send(404, b"not here", "text/plain")
        return self._send(200, (FIXTURES / f"{site}.html").read_bytes(), "text/html")

    def do_POST(self) -> None:
        """The answer, streamed in small chunks as a chat site streams its tokens."""
        prompt = self.rfile.read(int(self.headers["Content-Length"])).decode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        text = answer_to(prompt).encode()
        for start in range(0, len(text), 12):
            chunk = text[start : start + 12]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
            time.sleep(0.03)
        self.wfile.write(b"0\r\n\r\n")


@contextmanager
def chat_sites(directory: Path) -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SiteHandler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*_certificate(directory))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


# --- The rig: Engram, the sites, Chromium with the extension -----------------------------------

# A memory's text is kept short here, so that one exchange can outgrow it (the other tests' are
# a few hundred characters at most).
MAX_CONTENT_CHARS = 600
ENGRAM_ENV = {
    "LOG_LEVEL": "WARNING",
    "EMBEDDING_BACKEND": "hashing",
    "MEMORY_MAX_CONTENT_CHARS": str(MAX_CONTENT_CHARS),
}


class Rig:
    def __init__(self, context, extension_id: str, server_url: str, sites_port: int, user):
        self.context, self.extension_id = context, extension_id
        self.server_url, self.sites_port, self.user = server_url, sites_port, user

    def extension_page(self, path: str):
        page = self.context.new_page()
        page.goto(f"chrome-extension://{self.extension_id}/{path}")
        return page

    def connect_with_a_pasted_key(self) -> None:
        """The fallback to the handshake: a key made by hand, pasted in the options page."""
        _, secret = api_key_create(
            user=self.user, name="pasted", scopes=["memories:read", "memories:write"]
        )
        options = self.extension_page("options/options.html")
        options.fill("#server-url", self.server_url)
        options.click("details summary")
        options.fill("#api-key", secret)
        options.click("#save-key")
        options.wait_for_selector("#connection[data-state='connected']")

    def storage(self, page, key: str):
        return page.evaluate(f"async () => (await chrome.storage.local.get('{key}'))['{key}']")

    def open_site(self, site: str):
        url, composer, _ = SITES[site]
        page = self.context.new_page()
        page.goto(url.format(port=self.sites_port))
        # The content script marks the page once the service worker said it may capture.
        page.wait_for_function("performance.getEntriesByName('engram:ready').length > 0")
        return page, composer

    def send_prompt(self, page, site: str, prompt: str) -> None:
        _, composer, send = SITES[site]
        page.click(composer)
        page.keyboard.type(prompt)
        if send == "Enter":
            page.keyboard.press("Enter")
        else:
            page.click(send)

    def capture_ms(self, page) -> list[float]:
        return page.evaluate(
            "performance.getEntriesByName('engram:capture').map(e => e.detail.workMs)"
        )


def memories_of(user) -> list[Memory]:
    return list(Memory.objects.filter(user=user).order_by("created_at"))


def wait_for(predicate, timeout: float = 30, what: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(0.25)
    raise AssertionError(
        f"timed out waiting for {what or predicate}; memories: "
        + repr([(m.prompt, m.response[:40]) for m in Memory.objects.order_by("created_at")])
    )


@pytest.fixture
def rig(tmp_path, monkeypatch) -> Iterator[Rig]:
    chromium_required()
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the test's own ORM reads are
    # plain synchronous calls all the same.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    # The tier `make run` gives every account (600 requests a minute): the free tier's 20 were
    # spent before the test's end on a fast machine, and its captures would then wait a minute.
    user = UserFactory(email="me@example.com", tier=Tier.SELF_HOSTED)
    ARTIFACTS.mkdir(exist_ok=True)
    port = free_port()
    rules = ", ".join(f"MAP {host} 127.0.0.1:{{port}}" for host in SITE_HOSTS if "." in host)
    engram = ExitStack()  # the test may stop the server before the browser closes
    with chat_sites(tmp_path) as sites_port, engram, sync_playwright() as playwright:
        server = engram.enter_context(live_server(ENGRAM_ENV, tmp_path / "server.log", port=port))
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            headless=False,  # --headless=new below: the old headless mode loads no extensions
            args=[
                "--headless=new",
                *CHROMIUM_ARGS,
                "--ignore-certificate-errors",
                f"--host-resolver-rules={rules.format(port=sites_port)}",
                f"--disable-extensions-except={EXTENSION / 'src'}",
                f"--load-extension={EXTENSION / 'src'}",
            ],
        )
        try:
            worker = context.service_workers[0] if context.service_workers else None
            worker = worker or context.wait_for_event("serviceworker")
            extension_id = worker.url.split("/")[2]
            rig = Rig(context, extension_id, server.url, sites_port, user)
            rig.stop_server = engram.close
            rig.restart = lambda: live_server(
                ENGRAM_ENV, tmp_path / "again.log", port=port, start_timeout=180
            )
            yield rig
        finally:
            context.close()


def connect_by_handshake(rig: Rig):
    """What a person does: server address, Connect, approve the code on the opened page."""
    session = Client()
    session.force_login(rig.user)
    rig.context.add_cookies(
        [{"name": "sessionid", "value": session.cookies["sessionid"].value, "url": rig.server_url}]
    )
    options = rig.extension_page("options/options.html")
    options.fill("#server-url", rig.server_url)
    with rig.context.expect_page() as opened:
        options.click("#connect")
    approval = opened.value
    approval.wait_for_load_state()
    options.wait_for_selector("#user-code-line:not([hidden])")
    assert approval.locator("#user-code").inner_text() == options.locator("#user-code").inner_text()
    approval.screenshot(path=str(ARTIFACTS / "extension-approve.png"))
    approval.click("#approve")
    approval.wait_for_selector("#outcome")
    options.wait_for_selector("#connection[data-state='connected']")
    assert "me@example.com" in options.locator("#connection").inner_text()
    options.screenshot(path=str(ARTIFACTS / "extension-options.png"), full_page=True)
    approval.close()
    return options


def search_with(server_url: str, api_key: str) -> int:
    request = urllib.request.Request(
        f"{server_url}/api/v1/memories/search",
        data=json.dumps({"query": "anything"}).encode(),
        headers={"X-API-Key": api_key, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_connect_capture_on_every_site_redact_recall_and_disconnect(rig):
    # Given the extension connected through the handshake: a key with the memories scopes only
    first = connect_by_handshake(rig)
    replaced = rig.storage(first, "auth")
    assert search_with(rig.server_url, replaced["apiKey"]) == 200
    first.close()

    # Connecting again replaces that key: the one the extension held is revoked on the server
    options = connect_by_handshake(rig)
    auth = wait_for(
        lambda: (held := rig.storage(options, "auth"))["apiKey"] != replaced["apiKey"] and held,
        what="the new key",
    )
    wait_for(lambda: search_with(rig.server_url, replaced["apiKey"]) == 401, what="the revoke")
    assert search_with(rig.server_url, auth["apiKey"]) == 200
    key = rig.user.api_keys.get(revoked_at__isnull=True)
    assert sorted(key.scopes) == ["memories:read", "memories:write"]

    # When a prompt is sent on each site, then its memory arrives with its answer and metadata
    costs = {}
    for number, site in enumerate(SITES, start=1):
        page, _ = rig.open_site(site)
        prompt = f"Remember for {site}: my locker number is {number}0{number} at the gym."
        rig.send_prompt(page, site, prompt)
        memory = wait_for(
            lambda p=prompt: (
                Memory.objects.filter(user=rig.user, prompt=p).exclude(response="").first()
            ),
            what=f"the {site} exchange",
        )
        url = SITES[site][0].format(port=rig.sites_port)
        assert memory.response == answer_to(prompt)
        assert memory.source == "extension"
        assert memory.provider == ("other" if site == "openwebui" else site)
        assert memory.source_url == url
        assert memory.metadata["site"] == site
        assert memory.metadata["conversation_url"] == url
        assert memory.conversation_id == url.rsplit("/", 1)[1]
        costs[site] = rig.capture_ms(page)
        assert len(costs[site]) == 1, costs
        page.screenshot(path=str(ARTIFACTS / f"extension-{site}.png"))
        page.close()
    # Capture's own work on the page, per message (the issue asks < 5 ms; bound generously here
    # so a busy machine does not fail it, and record the number).
    worst = max(ms for values in costs.values() for ms in values)
    (ARTIFACTS / "extension-capture-ms.json").write_text(json.dumps(costs, indent=1))
    print(f"capture work per message, ms: {costs} (worst {worst:.2f})")
    assert worst < 50

    # A secret typed into a prompt, or into the page's password and card fields, never leaves
    page, _ = rig.open_site("openwebui")
    page.fill("#password", "hunter2-correct-horse")
    page.fill("#card", "4111 1111 1111 1111")
    page.press("#card", "Enter")
    secret_key = "sk-proj-Zq3hV9xY2mK7pL4nR8tW1sB6cD5fG0jH"
    prompt = f"Use my key {secret_key} and card 4242 4242 4242 4242 to book the flight to Porto."
    rig.send_prompt(page, "openwebui", prompt)
    stored = wait_for(
        lambda: (
            Memory.objects.filter(user=rig.user, prompt__contains="flight to Porto")
            .exclude(response="")
            .first()
        ),
        what="the redacted exchange",
    )
    assert stored.prompt == "Use my key [redacted] and card [redacted] to book the flight to Porto."
    assert "[redacted]" in stored.response
    everything = json.dumps(
        [[m.prompt, m.response, m.content, m.title, m.metadata] for m in memories_of(rig.user)]
    )
    for secret in (secret_key, "4242 4242 4242 4242", "hunter2", "4111 1111"):
        assert secret not in everything
    page.close()

    # Recall: a question typed on a site is offered the memory it needs; accepting inserts it
    page, composer = rig.open_site("chatgpt")
    page.click(composer)
    page.keyboard.type("What is my locker number at the gym for chatgpt?")
    offer = page.locator("engram-recall li", has_text="Remember for chatgpt")
    offer.first.wait_for(timeout=15000)
    page.screenshot(path=str(ARTIFACTS / "extension-recall.png"))
    offer.first.locator("button.insert").click()
    field = page.locator(composer).inner_text()
    assert "Context from my memories:" in field
    assert "my locker number is 101 at the gym" in field
    assert field.rstrip().endswith("What is my locker number at the gym for chatgpt?")
    assert page.locator("engram-recall").count() == 0
    page.close()

    # The popup shows the state and the last captures; "Forget" deletes the memory
    popup = rig.extension_page("popup/popup.html")
    popup.wait_for_selector("#state[data-state='connected']")
    assert popup.locator("#queue").inner_text() == "0"
    forgotten = popup.locator("#recent li").first
    assert "Porto" in forgotten.inner_text()
    popup.screenshot(path=str(ARTIFACTS / "extension-popup.png"))
    forgotten.locator("button").click()  # armed: one click alone forgets nothing
    assert forgotten.locator("button").inner_text() == "Forget for good?"
    assert Memory.objects.filter(prompt__contains="Porto").exists()
    forgotten.locator("button").click()
    wait_for(lambda: not Memory.objects.filter(prompt__contains="Porto").exists(), what="forget")
    # A search finds only what is close; for nothing close, the web app's search is offered.
    popup.fill("#search", "zzqx unrelated gibberish")
    popup.press("#search", "Enter")
    popup.wait_for_selector("#results a")
    assert popup.locator("#results li").count() == 1
    assert popup.locator("#results a").get_attribute("href") == (
        f"{rig.server_url}/memories/?q=zzqx%20unrelated%20gibberish"
    )

    # Paused, nothing is captured: the exchange sent while paused never arrives, the one after
    # the pause does (captures arrive in order, so the first would have come first)
    page, _ = rig.open_site("grok")
    popup.check("#paused")
    wait_for(lambda: rig.storage(popup, "settings")["paused"], what="the pause")
    rig.send_prompt(page, "grok", "Paused prompt: do not keep this one.")
    page.wait_for_function("document.body.innerText.includes('do not keep this one. That is all.')")
    popup.uncheck("#paused")
    page.close()
    page, _ = rig.open_site("grok")
    rig.send_prompt(page, "grok", "After the pause: keep this one.")
    wait_for(
        lambda: Memory.objects.filter(prompt__startswith="After the pause").exclude(response=""),
        what="the exchange after the pause",
    )
    assert not Memory.objects.filter(prompt__startswith="Paused prompt").exists()
    page.close()
    popup.close()

    # Disconnect revokes the key on the server: its next call is a 401
    options.bring_to_front()
    options.click("#disconnect")
    options.wait_for_selector("#connection[data-state='disconnected']")
    assert rig.storage(options, "auth") is None
    assert search_with(rig.server_url, auth["apiKey"]) == 401


def test_captures_wait_while_the_server_is_down_and_arrive_once_in_order(rig):
    # Given a key pasted by hand (the fallback to the handshake)
    rig.connect_with_a_pasted_key()

    # When the server stops and three exchanges are captured
    rig.stop_server()
    page, _ = rig.open_site("chatgpt")
    prompts = [
        f"Offline note {n}: the boiler service is on day {n} of the month." for n in (1, 2, 3)
    ]
    for prompt in prompts:
        rig.send_prompt(page, "chatgpt", prompt)
        page.wait_for_function(
            "n => performance.getEntriesByName('engram:capture').length === n",
            arg=prompts.index(prompt) + 1,
        )
    # The same page's later messages: capture's cost once its code has run before.
    warm = rig.capture_ms(page)
    (ARTIFACTS / "extension-capture-ms-same-page.json").write_text(json.dumps(warm))
    print(f"capture work per message on one page, ms: {warm}")
    assert max(warm) < 50
    popup = rig.extension_page("popup/popup.html")
    popup.wait_for_selector("#state[data-state='offline']")
    popup.wait_for_selector("#queue:text-is('6')")  # three prompts, three answers
    popup.screenshot(path=str(ARTIFACTS / "extension-popup-offline.png"))

    # Then, once it is started again, all three arrive once, in order, with their answers
    with rig.restart():
        arrived = wait_for(
            lambda: len(done := [m for m in memories_of(rig.user) if m.response]) == 3 and done,
            timeout=120,
            what="the queued exchanges",
        )
        assert [m.prompt for m in arrived] == prompts
        assert [m.response for m in arrived] == [answer_to(p) for p in prompts]
        assert len(memories_of(rig.user)) == 3
        popup.wait_for_selector("#queue:text-is('0')")


def test_an_exchange_longer_than_the_server_keeps_arrives_cut_to_fit(rig):
    # Given a connected extension and a server that keeps 600 characters a memory
    rig.connect_with_a_pasted_key()

    # When a prompt and its answer together are longer than that (the server answers 413)
    rooms = ", ".join(["kitchen, bathroom, hallway"] * 11)
    prompt = f"Summarise the renovation plan: {rooms}."
    page, _ = rig.open_site("chatgpt")
    rig.send_prompt(page, "chatgpt", prompt)

    # Then the answer arrives, cut to fit and saying so, instead of being dropped
    [memory] = wait_for(
        lambda: [m for m in memories_of(rig.user) if m.response], timeout=60, what="the answer"
    )
    assert memory.prompt == prompt
    assert len(memory.content) == MAX_CONTENT_CHARS
    assert memory.response.endswith("the exchange was longer than the server keeps.]")
    assert answer_to(prompt).startswith(memory.response.split("\n\n[Cut by")[0])
