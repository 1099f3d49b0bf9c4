"""The operator console in a real browser: Debian's Chromium, driven by Playwright, against a
live server. Screenshots are kept in test-artifacts/ (not committed)."""

import shutil
from pathlib import Path

import pytest

from accounts.tests.factories import UserFactory
from chat.models import Message
from chat.tests.factories import ThreadFactory
from memories.tests.factories import MemoryFactory
from testing.live import REPO, live_server

pytestmark = pytest.mark.django_db(transaction=True)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = REPO / "test-artifacts"
# The flags that let Chromium run as root in a container without a GPU or network of its own.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def console(tmp_path, settings):
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (`make browser` installs it as root)")
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
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield server.url, browser
        finally:
            browser.close()


def open_page(browser, base: str, scheme: str):
    context = browser.new_context(color_scheme=scheme, viewport={"width": 1280, "height": 1600})
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
