"""The agent console and the wallboard in headless Chromium, against the in-memory desk."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.cti.browser import chromium
from tests.cti.conftest import PASSWORDS, CtiServer

pytestmark = [pytest.mark.peer, pytest.mark.slow]

POP = {
    "interaction_id": "i1", "channel": "voice", "caller": "+905551112233", "called": "4440000",
    "caller_name": "Ayşe Yılmaz", "language": "tr", "queue": "support", "waited": 42,
    "ivr_path": ["welcome", "main_menu", "support"], "variables": {"account": "778", "pin": "1234"},
    "crm": {"tier": "gold"},
}


async def log_in(page: Page, url: str, user: str) -> None:
    await page.goto(url)
    await page.fill("#user", user)
    await page.fill("#password", PASSWORDS[user])
    await page.click("#login-button")


async def test_agent_handles_offer(server: CtiServer, tmp_path: Path, artifacts_dir: Path
                                   ) -> None:
    async with chromium(tmp_path) as browser:
        page = await browser.new_page()
        await log_in(page, server.url + "/cti/", "alice")
        await expect(page.locator("#connection")).to_have_text("live")
        await page.click("#go-available")
        await expect(page.locator("#status")).to_have_text("available")

        server.desk.offer("alice", POP)
        await expect(page.locator("#offer-panel")).to_be_visible()
        await expect(page.locator("#offer-caller")).to_have_text("Ayşe Yılmaz")
        await expect(page.locator('[data-variable="pin"]')).to_have_text("****")
        await expect(page.locator('[data-variable="account"]')).to_have_text("778")
        await expect(page.locator("#countdown")).not_to_have_text("0:00")
        await page.screenshot(path=artifacts_dir / "1-offer.png", full_page=True)

        await page.click("#accept")
        await expect(page.locator("#state")).to_have_text("busy")
        await expect(page.locator('[data-interaction="i1"]')).to_be_visible()
        await page.screenshot(path=artifacts_dir / "2-connected.png", full_page=True)

        await page.click('[data-interaction="i1"] .hangup')
        await expect(page.locator("#wrapup-panel")).to_be_visible()
        await page.select_option("#disposition", "resolved")
        await page.fill("#notes", "asked about an invoice")
        await page.screenshot(path=artifacts_dir / "3-wrapup.png", full_page=True)
        await page.click("#end-wrapup")
        await expect(page.locator("#state")).to_have_text("idle")
        await expect(page.locator("#wrapup-panel")).to_be_hidden()
        await page.screenshot(path=artifacts_dir / "4-idle.png", full_page=True)

    assert server.desk.agents_by_id["alice"].state == "idle"


async def test_email_text_shown(server: CtiServer, tmp_path: Path, artifacts_dir: Path
                                ) -> None:
    messages = [
        {"direction": "in", "from": "ayse@example.com", "text": "My invoice is wrong.",
         "subject": "Invoice 2026-11"},
        {"direction": "out", "from": "alice", "text": "Let me check it.", "subject": ""},
    ]
    async with chromium(tmp_path) as browser:
        page = await browser.new_page()
        await log_in(page, server.url + "/cti/", "alice")
        await expect(page.locator("#connection")).to_have_text("live")

        server.desk.offer("alice", {"caller": "ayse@example.com", "subject": "Invoice 2026-11",
                                    "messages": messages[:1]},
                          channel="email", attributes={"messages": messages})
        await expect(page.locator("#offer-messages")).to_contain_text("My invoice is wrong.")
        await page.click("#accept")
        card = page.locator('[data-interaction="i1"]')
        await expect(card.locator(".messages")).to_contain_text("My invoice is wrong.")
        await expect(card.locator(".messages")).to_contain_text("Let me check it.")
        await expect(card.locator(".messages")).to_contain_text("Invoice 2026-11")
        await expect(card.locator(".hold")).to_have_count(0)
        await page.screenshot(path=artifacts_dir / "email.png", full_page=True)


async def test_wallboard_updates_live(server: CtiServer, tmp_path: Path, artifacts_dir: Path
                                      ) -> None:
    async with chromium(tmp_path) as browser:
        page = await browser.new_page()
        await log_in(page, server.url + "/cti/wallboard", "sam")
        await expect(page.locator("#connection")).to_have_text("live")
        await expect(page.locator('[data-agent="bob"] .status')).to_have_text("logged_out")

        await page.click('[data-agent="bob"] button:text("Available")')
        await expect(page.locator('[data-agent="bob"] .status')).to_have_text("available")
        await expect(page.locator('[data-queue="support"] .waiting')).to_have_text("0")
        await page.screenshot(path=artifacts_dir / "wallboard.png", full_page=True)

    assert server.desk.agents_by_id["bob"].status == "available"


async def test_console_reconnects_after_drop(server: CtiServer, tmp_path: Path) -> None:
    async with chromium(tmp_path) as browser:
        page = await browser.new_page()
        await log_in(page, server.url + "/cti", "alice")
        await expect(page.locator("#connection")).to_have_text("live")

        await server.hub.close_clients()
        await expect(page.locator("#connection")).to_contain_text("reconnecting")
        await expect(page.locator("#connection")).to_have_text("live", timeout=10_000)
        server.desk.offer("alice", POP)

        await expect(page.locator("#offer-panel")).to_be_visible()
        await expect(page.locator("#offer-caller")).to_have_text("Ayşe Yılmaz")


async def test_console_rejects_wrong_password(server: CtiServer, tmp_path: Path) -> None:
    async with chromium(tmp_path) as browser:
        page = await browser.new_page()
        await page.goto(server.url + "/cti/")
        await page.fill("#user", "alice")
        await page.fill("#password", "wrong")
        await page.click("#login-button")

        await expect(page.locator("#login-error")).to_contain_text("wrong password")
        await expect(page.locator("#desk")).to_be_hidden()
