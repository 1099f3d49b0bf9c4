"""Debian's Chromium for the browser tests: where it is, the flags it runs with here, and a skip
that says how to install it when it is missing (Playwright's own browser builds are downloads,
which this project never makes)."""

import shutil
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
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


def chromium_required() -> None:
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (`make system-packages`, as root)")


def chromium_launched(playwright: Any) -> Any:
    """A headless Chromium from Playwright's sync API; the caller closes it."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
