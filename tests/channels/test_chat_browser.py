"""Web chat end to end in headless Chromium: the widget page and the agent console."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from santral.engine import Engine
from tests.cti.browser import chromium

pytestmark = [pytest.mark.peer, pytest.mark.slow]


async def console_for(browser: Browser, base: str) -> Page:
    page = await (await browser.new_context()).new_page()
    await page.goto(base + "/cti/")
    await page.fill("#user", "alice")
    await page.fill("#password", "alice-demo")
    await page.click("#login-button")
    await expect(page.locator("#connection")).to_have_text("live", timeout=10_000)
    return page


async def test_chat_widget_and_console(
    engine: Engine, tmp_path: Path, artifacts_dir: Path
) -> None:
    base = f"http://127.0.0.1:{engine.http_port}"
    async with chromium(tmp_path) as browser:
        console = await console_for(browser, base)
        await console.click("#go-available")
        await expect(console.locator("#status")).to_have_text("available")

        customer = await (await browser.new_context()).new_page()
        await customer.goto(base + "/chat/")
        await customer.click("#santral-chat .open")
        await customer.fill("#santral-chat input[name=name]", "Ayşe")
        await customer.select_option("#santral-chat select[name=topic]", "billing")
        await customer.click("#santral-chat .start button[type=submit]")
        await expect(customer.locator("#santral-chat .status")).to_contain_text(
            "queue", timeout=10_000
        )

        await expect(console.locator("#offer-panel")).to_be_visible(timeout=15_000)
        await console.screenshot(path=artifacts_dir / "1-chat-offer.png", full_page=True)
        await console.click("#accept")
        await expect(customer.locator("#santral-chat .log")).to_contain_text(
            "Alice joined the chat.", timeout=10_000
        )

        await customer.fill("#santral-chat input[name=text]", "My bill is wrong.")
        await customer.click("#santral-chat .send button")
        messages = console.locator(".interaction .messages")
        await expect(messages).to_contain_text("My bill is wrong.", timeout=10_000)

        await console.fill(".interaction textarea", "Let me check that for you.")
        await console.click(".interaction .messages button")
        await expect(customer.locator("#santral-chat .log .agent")).to_have_text(
            "Let me check that for you.", timeout=10_000
        )
        await customer.screenshot(path=artifacts_dir / "2-chat-customer.png", full_page=True)
        await console.screenshot(path=artifacts_dir / "2-chat-console.png", full_page=True)

        await customer.click("#santral-chat .leave")
        await expect(console.locator("#wrapup-panel")).to_be_visible(timeout=10_000)
        await console.select_option("#disposition", "resolved")
        await console.click("#end-wrapup")
        await expect(console.locator("#state")).to_have_text("idle", timeout=10_000)

    assert engine.store is not None
    await engine.store.flush()
    transcript = await engine.store.read(
        lambda database: database.query(
            "SELECT body FROM events WHERE type = ? ORDER BY seq", ("interaction_message",)
        )
    )
    texts = [row["body"] for row in transcript]
    assert any("My bill is wrong." in body for body in texts)
    assert any("Let me check that for you." in body for body in texts)
