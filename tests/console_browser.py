"""Playwright for Python driving the system's Chromium, for the console's browser tests.

Never a downloaded browser: the tests launch Debian's ``chromium`` package from its path, and
skip, naming what is missing, where either the package or Playwright is absent.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

# SOCBOT_CHROMIUM names another build; unset, Debian's path, then chromium on PATH.
CHROMIUM = os.environ.get("SOCBOT_CHROMIUM", "")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync"]


def missing() -> str:
    """Why the browser tests cannot run here ("" when they can)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[dev]')"
    if not chromium_path():
        return (f"no Chromium at {CHROMIUM or '/usr/bin/chromium'} "
                "(apt-get install -y chromium)")
    return ""


def chromium_path() -> str:
    """The browser to launch ("" when there is none)."""
    if CHROMIUM:
        return CHROMIUM if os.path.exists(CHROMIUM) else ""
    if os.path.exists("/usr/bin/chromium"):
        return "/usr/bin/chromium"
    return shutil.which("chromium") or ""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium for the module."""
    reason = missing()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=chromium_path(), headless=True,
                                          args=FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()
