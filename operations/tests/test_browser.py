"""The operator console in a real browser: Debian's Chromium, driven by Playwright, against a
live server. Screenshots are kept in test-artifacts/ (not committed)."""

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth.models import Group
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.models import ApiKey, Persona, ProviderKey
from accounts.tests.factories import UserFactory
from agents.models import AgentRun
from backups.models import Backup, BackupUpload, EncryptedRecord, EncryptedVector
from billing.models import DailyUsage
from chat.models import Message
from chat.tests.factories import ThreadFactory
from marketplace.models import (
    Installation,
    LedgerEntry,
    Payout,
    Plugin,
    PluginVersion,
    Publisher,
)
from memories.models import ExtractionJob, MemoryHistory, MemorySummary, UserVectorIndex
from memories.tests.factories import MemoryFactory
from tasks.models import Comment, Project, RecurrenceRule, Task, XpEntry
from teams.models import AuditEvent, Invitation, TeamDomain, TeamSso
from teams.services import organisation_create
from testing.browser import chromium_launched, chromium_required
from testing.live import REPO, live_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.heavy(70)]
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture
def console(tmp_path, settings):
    chromium_required()
    from playwright.sync_api import sync_playwright

    # The server checks the password with its own (default) hashers.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    operator = UserFactory(email="operator@example.com", is_staff=True, is_superuser=True)
    operator.set_password("operator-password-1")
    operator.save()
    MemoryFactory.create_batch(5, user=operator)
    thread = ThreadFactory(user=operator, title="Charts")
    Message.objects.create(thread=thread, model_id="gpt-4o-mini", role="assistant",
                           content="hi", completion_tokens=12)  # fmt: skip
    env = {"LOG_LEVEL": "WARNING", "EMBEDDING_BACKEND": "hashing"}
    ARTIFACTS.mkdir(exist_ok=True)
    with live_server(env, tmp_path / "server.log") as server, sync_playwright() as playwright:
        browser = chromium_launched(playwright)
        try:
            yield server.url, browser
        finally:
            browser.close()


def open_page(browser, base: str, scheme: str, width: int = 1280, height: int = 1600):
    context = browser.new_context(color_scheme=scheme, viewport={"width": width, "height": height})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"{r.status} {r.url}"))
    page.goto(f"{base}/admin/login/?next=/admin/")
    page.fill("#id_username", "operator@example.com")
    page.fill("#id_password", "operator-password-1")
    page.click("input[type=submit]")
    page.wait_for_load_state()
    assert page.locator("#dashboard").count() == 1, f"{page.url}: {page.content()[:2000]}"
    return page, problems


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_dashboard_and_a_list_render_without_errors(console, scheme):
    base, browser = console
    page, problems = open_page(browser, base, scheme)

    charts = page.locator("svg.chart")
    assert charts.count() == 6
    for index in range(charts.count()):
        box = charts.nth(index).bounding_box()
        assert box and box["width"] > 100 and box["height"] > 20
        assert charts.nth(index).locator("rect.bar").count() == 14
    bar, background = page.evaluate(
        """() => [getComputedStyle(document.querySelector('svg.chart rect.bar')).fill,
                  getComputedStyle(document.querySelector('#dashboard section')).backgroundColor]"""
    )
    assert bar != background  # the bars stand out from the card in this theme
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{scheme}.png"), full_page=True)

    page.goto(f"{base}/admin/memories/memory/")
    assert page.locator("#result_list tbody tr").count() == 5
    page.screenshot(path=str(ARTIFACTS / f"memories-list-{scheme}.png"))

    assert problems == []
    assert Path(ARTIFACTS / f"dashboard-{scheme}.png").stat().st_size > 10_000


@pytest.fixture
def every_list_filled() -> None:
    """A row or more in every list of the console, with values as long as real ones get: UUIDs,
    long e-mail addresses, error texts, model names. (Before the browser starts: Playwright's
    event loop forbids the ORM.)"""
    now = timezone.now()
    reviewer = UserFactory(email="reviewer@example.com", is_staff=True)
    customer = UserFactory(email="maximilian.longname-operations@example-enterprise.com")
    MemoryFactory(user=customer, provider="perplexity", source="extension")
    thread = ThreadFactory(
        user=customer, title="Planning the autumn trip to Lisbon, Porto and the Douro valley"
    )
    Message.objects.create(thread=thread, model_id="anthropic/claude-3-5-sonnet-20241022",
                           role="assistant", content="x" * 3000, prompt_tokens=1234)  # fmt: skip
    ApiKey.objects.create(user=customer, name="Laptop browser extension", prefix="egk_7Hq2",
                          key_hash="f" * 64,
                          scopes=["memories:read", "memories:write"])  # fmt: skip
    ProviderKey.objects.create(user=customer, provider="openai", ciphertext="k:abc",
                               last_four="9f3a", base_url="https://api.openai.com/v1")  # fmt: skip
    Persona.objects.create(user=customer, name="Careful travel planner", system_prompt="Be brief.",
                           default_model="anthropic/claude-3-5-sonnet-20241022")  # fmt: skip
    AgentRun.objects.create(user=customer, mode="plan", agents=["router", "memory", "writer"],
                            route_method="llm", tools_called=["memory_search", "memory_create"],
                            duration_ms=5321, llm_ms=4100, outcome="failed",
                            error_code="PROVIDER_RATE_LIMITED",
                            expires_at=now + timedelta(days=30))  # fmt: skip
    Group.objects.create(name="Support operators")
    blob = {"user": customer, "size": 123_456, "checksum": "c" * 64}
    EncryptedRecord.objects.create(**blob, blob_key=f"r/{uuid.uuid4()}", table="memories")
    EncryptedVector.objects.create(**blob, blob_key=f"v/{uuid.uuid4()}", table="memories",
                                   key=f"memories/{uuid.uuid4()}", dimensions=3,
                                   embedding=[0.1, 0.2, 0.3])  # fmt: skip
    Backup.objects.create(**blob, blob_key=f"b/{uuid.uuid4()}", version=42,
                          client_timestamp=1_700_000_000_000)  # fmt: skip
    BackupUpload.objects.create(**blob, blob_key=f"u/{uuid.uuid4()}", version=43,
                                client_timestamp=1_700_000_000_000,
                                part_size=8_388_608)  # fmt: skip
    DailyUsage.objects.create(user=customer, day=now.date(), requests=1234, prompt_tokens=987_654,
                              completion_tokens=123_456, cost_usd="12.345678")  # fmt: skip
    publisher = Publisher.objects.create(user=customer, namespace="acme-travel-tools",
                                         stripe_account_id="acct_1PqR2sT3uV4wX5yZ")  # fmt: skip
    plugin = Plugin.objects.create(slug="acme-travel-tools.itinerary-builder",
                                   publisher=publisher, category="productivity",
                                   price_cents=999, listed_at=now)  # fmt: skip
    version = PluginVersion.objects.create(plugin=plugin, version="1.12.0-beta.3", manifest={},
                                           package_key=f"plugins/{uuid.uuid4()}.zip",
                                           package_sha256="a" * 64, package_bytes=1_234_567,
                                           status="approved", reviewed_by=reviewer)  # fmt: skip
    plugin.latest_version = version
    plugin.save()
    installation = Installation.objects.create(user=customer, plugin=plugin, version=version,
                                               status="active", amount_cents=999,
                                               payment_intent_id="pi_3PqR2sT3uV4wX5yZ0a1b2c3d",
                                               installed_at=now)  # fmt: skip
    LedgerEntry.objects.create(publisher=publisher, plugin=plugin, installation=installation,
                               kind="sale", gross_cents=999, fee_cents=299, publisher_cents=700,
                               stripe_object_id="pi_3PqR2sT3uV4wX5yZ0a1b2c3d",
                               period=now.strftime("%Y-%m"), occurred_at=now)  # fmt: skip
    Payout.objects.create(publisher=publisher, period=now.strftime("%Y-%m"), amount_cents=700,
                          status="failed", transfer_id="tr_1PqR2sT3uV4wX5yZ0a1b2c3d",
                          error="The account cannot receive transfers yet.")  # fmt: skip
    job = ExtractionJob.objects.create(
        user=customer, status="failed", trigger="capture", model="gpt-4o-mini",
        prompt_version="2024-11-extraction-v3", facts=["a", "b", "c"],
        operations=[{"event": "ADD", "applied": True}, {"event": "UPDATE", "applied": True}],
        error="ProviderError: the model answered with text that is not JSON after 3 attempts "
        "(expected an object with 'facts'; got 'Sure! Here are the facts you asked for: ...')",
        started_at=now, finished_at=now + timedelta(seconds=3), llm_ms=2875.5,
    )  # fmt: skip
    MemoryHistory.objects.create(memory_id=uuid.uuid4(), user=customer, event="update", job=job,
                                 old_content="before", new_content="after")  # fmt: skip
    MemorySummary.objects.create(user=customer, text="Likes trains.", generator="llm:gpt-4o-mini",
                                 memory_count=1)  # fmt: skip
    UserVectorIndex.objects.create(user=customer, model="BAAI/bge-small-en-v1.5", dimensions=384,
                                   name=f"memories_vec_{uuid.uuid4().hex}"[:63], status="ready",
                                   rows=12_345)  # fmt: skip
    token = OutstandingToken.objects.create(user=customer, jti=uuid.uuid4().hex, token="e" * 300,
                                            created_at=now,
                                            expires_at=now + timedelta(days=7))  # fmt: skip
    BlacklistedToken.objects.create(token=token)
    project = Project.objects.create(user=customer, name="Kitchen renovation, second floor")
    rule = RecurrenceRule.objects.create(
        user=customer, rrule="FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR=9", time_zone="Europe/Berlin",
        starts_on=now.date(), at_time=now.time(), title="Water the balcony plants", project=project,
    )  # fmt: skip
    task = Task.objects.create(
        user=customer, project=project, recurrence=rule, title="Compare three quotes for tiles",
        difficulty=4, experience_points=60, due_at=now, time_zone="America/Argentina/Buenos_Aires",
    )  # fmt: skip
    Comment.objects.create(task=task, user=customer, content="The second quote leaves out grout.")
    XpEntry.objects.create(user=customer, task=task, completion=1, kind="grant", amount=60)
    EmailAddress.objects.create(user=customer, email=customer.email, verified=True, primary=True)
    Authenticator.objects.create(user=customer, type=Authenticator.Type.TOTP, data={"secret": "x"})
    SocialAccount.objects.create(user=customer, provider="keycloak-engineering",
                                 uid="f3b6c1d2-8e4a-4b7c-9d0e-1a2b3c4d5e6f")  # fmt: skip
    team = organisation_create(owner=customer, name="Example Enterprise Operations and Logistics")
    Invitation.objects.create(organisation=team, invited_by=customer, token_hash="d" * 64,
                              email="new.colleague-logistics@example-enterprise.com",
                              expires_at=now + timedelta(days=7))  # fmt: skip
    TeamSso.objects.create(organisation=team, issuer="https://login.example-enterprise.com/realms/staff",
                           client_id="engram-production-client-0123456789",
                           client_secret_ciphertext="k:abc", required=True)  # fmt: skip
    TeamDomain.objects.create(organisation=team, domain="operations.example-enterprise.com",
                              verification_token="e" * 32, verified_at=now)  # fmt: skip
    AuditEvent.objects.create(organisation=team, actor=customer, actor_email=customer.email,
                              action="role_changed", subject=reviewer.email,
                              details={"from": "member", "to": "admin"})  # fmt: skip


# Whatever a cell shows: its text must stay on its line or wrap between words, and neither a
# cell nor a table may stick out of the box that holds it (the page, a card, a list).
LAYOUT_PROBLEMS = """() => {
  const problems = [];
  const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
    + (typeof el.className === 'string' && el.className.trim()
       ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth) {
    problems.push(`the page is ${root.scrollWidth} px wide in a ${root.clientWidth} px window`);
  }
  for (const table of document.querySelectorAll('table')) {
    for (let box = table.parentElement; box && box !== document.body; box = box.parentElement) {
      if (box.scrollWidth > box.clientWidth + 1) {
        problems.push(`${name(box)} around ${name(table)} overflows `
                      + `(${box.scrollWidth} px in ${box.clientWidth} px)`);
        break;
      }
    }
  }
  for (const cell of document.querySelectorAll('th, td')) {
    const text = cell.textContent.trim().replace(/\\s+/g, ' ').slice(0, 60);
    if (cell.scrollWidth > cell.clientWidth + 1) {
      problems.push(`"${text}" overflows its cell (${cell.scrollWidth} > ${cell.clientWidth} px)`);
    }
    const texts = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = texts.nextNode(); node; node = texts.nextNode()) {
      for (const word of node.data.matchAll(/\\S+/g)) {
        const range = document.createRange();
        range.setStart(node, word.index);
        range.setEnd(node, word.index + word[0].length);
        const lines = new Set([...range.getClientRects()].filter(r => r.width > 0)
                                .map(r => Math.round(r.top)));
        if (lines.size > 1) problems.push(`"${word[0]}" is broken over ${lines.size} lines`);
      }
    }
  }
  return [...new Set(problems)];
}"""


def test_every_console_page_fits_1400_pixels(every_list_filled, console):
    """The index (the dashboard and the model lists) and every list it links to, at 1400 px:
    no word broken inside a cell, nothing sticking out; dj-stripe's lists absent with billing
    off (the server runs without STRIPE_SECRET_KEY)."""
    base, browser = console
    page, problems = open_page(browser, base, "light", width=1400, height=1000)

    lists = page.eval_on_selector_all(
        "#content-main .module th[scope=row] a", "links => links.map(a => a.pathname)"
    )
    assert "/admin/memories/memory/" in lists and "/admin/billing/dailyusage/" in lists
    assert not [path for path in lists if path.startswith("/admin/djstripe/")]
    assert page.locator("#content-main .app-djstripe").count() == 0
    page.screenshot(path=str(ARTIFACTS / "console-1400-index.png"), full_page=True)
    layout = {"index": page.evaluate(LAYOUT_PROBLEMS)}

    for path in lists:
        page.goto(f"{base}{path}")
        label = path.strip("/").split("/", 1)[1].replace("/", "-")
        assert page.locator("#result_list tbody tr").count() > 0, f"{path} lists no rows"
        page.screenshot(path=str(ARTIFACTS / f"console-1400-{label}.png"))
        layout[path] = page.evaluate(LAYOUT_PROBLEMS)
        if path == "/admin/memories/memory/":  # a short id, the whole of it on hover
            short = page.locator("#result_list .field-id_shortened span").first
            assert len(short.get_attribute("title")) == 36 and len(short.inner_text()) == 9

    assert {page: found for page, found in layout.items() if found} == {}
    assert problems == []
