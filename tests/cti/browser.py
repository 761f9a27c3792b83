"""Headless Debian Chromium driven by Playwright, for the console tests."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, async_playwright

from tests.conftest import require_program

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]


@asynccontextmanager
async def chromium(home: Path) -> AsyncIterator[Browser]:
    """Launch headless Chromium with ``home`` (an existing folder) as HOME; stop it on exit."""
    executable = require_program(CHROMIUM)
    environment: dict[str, str | float | bool] = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
    }
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS, env=environment,
        )
        try:
            yield browser
        finally:
            await browser.close()
