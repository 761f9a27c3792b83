"""The agent console and wallboard against the whole engine: IVR, the real ACD, CTI.

A virtual caller dials in, passes the IVR into a queue, and the agent handles the offer in
headless Chromium while a supervisor watches the wallboard.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from santral.engine import Engine
from santral.events import Event, WrapupEnded
from santral.telephony.virtual import CallerOutput, KeyScript
from tests.cti.browser import chromium
from tests.engine.conftest import crm, engine, engine_environ

pytestmark = [pytest.mark.peer, pytest.mark.slow]
__all__ = ["crm", "engine", "engine_environ"]  # fixtures shared with the engine tests

# English, billing, a Luhn-valid account number, #, confirm with 1; then 5 in the survey.
BILLING_KEYS = "1 1 1 2 3 4 5 6 7 8 9 0 3 # 1 5"
DEMO_PASSWORDS = {"alice": "alice-demo", "bob": "bob-demo", "sam": "sam-demo"}
# English, sales; then 5 in the survey once the consulted agent hangs up.
SALES_KEYS = "1 3 5"


async def open_page(browser: Browser, url: str, user: str) -> Page:
    page = await (await browser.new_context()).new_page()
    await page.goto(url)
    await page.fill("#user", user)
    await page.fill("#password", DEMO_PASSWORDS[user])
    await page.click("#login-button")
    await expect(page.locator("#connection")).to_have_text("live", timeout=10_000)
    return page


async def test_virtual_call_handled_in_console(
    engine: Engine, crm: str, tmp_path: Path, artifacts_dir: Path
) -> None:
    assert engine.virtual is not None
    base = f"http://127.0.0.1:{engine.http_port}"
    wrapups: list[Event] = []
    engine.bus.subscribe(
        lambda event: wrapups.append(event) if event.type == "wrapup_ended" else None
    )
    heard: list[CallerOutput] = []

    async with chromium(tmp_path) as browser:
        wallboard = await open_page(browser, base + "/cti/wallboard", "sam")
        console = await open_page(browser, base + "/cti/", "alice")
        await console.click("#go-available")
        await expect(console.locator("#status")).to_have_text("available")

        call = asyncio.ensure_future(
            engine.virtual.place_call(
                "+905551112233",
                "100",
                KeyScript(keys=BILLING_KEYS.split(), key_gap=0.05, time_scale=0.0),
                heard.append,
                variables={"crm_url": crm},
            )
        )
        try:
            await expect(console.locator("#offer-panel")).to_be_visible(timeout=15_000)
            await expect(console.locator("#offer-caller")).to_have_text("Ayşe Yılmaz")
            await expect(console.locator('[data-field="queue"]')).to_have_text("billing")
            await expect(console.locator('[data-field="caller"]')).to_have_text("+905551112233")
            await expect(console.locator("#countdown")).not_to_have_text("0:00")
            await console.screenshot(path=artifacts_dir / "1-offer.png", full_page=True)
            await expect(wallboard.locator('[data-agent="alice"] .state')).to_have_text("reserved")
            await expect(wallboard.locator('[data-queue="billing"] .states')).to_contain_text(
                "reserved 1"
            )
            await wallboard.screenshot(path=artifacts_dir / "wallboard.png", full_page=True)

            await console.click("#accept")
            await expect(console.locator("#state")).to_have_text("busy", timeout=10_000)
            await expect(console.locator(".interaction .hangup")).to_be_visible()
            await console.screenshot(path=artifacts_dir / "2-connected.png", full_page=True)

            await console.click(".interaction .hangup")
            await expect(console.locator("#wrapup-panel")).to_be_visible(timeout=10_000)
            await console.select_option("#disposition", "resolved")
            await console.fill("#notes", "paid by card")
            await console.screenshot(path=artifacts_dir / "3-wrapup.png", full_page=True)
            await console.click("#end-wrapup")
            await expect(console.locator("#state")).to_have_text("idle")
            await console.screenshot(path=artifacts_dir / "4-idle.png", full_page=True)
            await asyncio.wait_for(call, 15)
        finally:
            call.cancel()

    assert engine.acd.agent_view("alice")["state"] == "idle"
    ended = [event for event in wrapups if isinstance(event, WrapupEnded)]
    assert [(event.disposition, event.notes) for event in ended] == [("resolved", "paid by card")]
    assert "connected" in [item.kind for item in heard]


async def test_consult_transfer_in_console(
    engine: Engine, tmp_path: Path, artifacts_dir: Path
) -> None:
    assert engine.virtual is not None
    base = f"http://127.0.0.1:{engine.http_port}"
    outcomes: list[str] = []
    engine.bus.subscribe(
        lambda event: (
            outcomes.append(getattr(event, "outcome", "")) if event.type == "call_ended" else None
        )
    )

    async with chromium(tmp_path) as browser:
        bob = await open_page(browser, base + "/cti/", "bob")
        alice = await open_page(browser, base + "/cti/", "alice")
        for page in (bob, alice):
            await page.click("#go-available")
            await expect(page.locator("#status")).to_have_text("available")

        call = asyncio.ensure_future(
            engine.virtual.place_call(
                "+905551112233",
                "100",
                KeyScript(keys=SALES_KEYS.split(), key_gap=0.05, time_scale=0.0),
                lambda _: None,
            )
        )
        try:
            await expect(bob.locator("#offer-panel")).to_be_visible(timeout=15_000)
            await bob.click("#accept")
            await expect(bob.locator("#state")).to_have_text("busy", timeout=10_000)

            card = bob.locator(".interaction")
            await card.locator('select[aria-label="Transfer target kind"]').select_option("agent")
            await card.locator('input[aria-label="Transfer target"]').fill("alice")
            await card.locator(".consult").click()
            await expect(alice.locator("#offer-consult")).to_have_text(
                "Consultation from Bob Kaya about this caller", timeout=10_000
            )
            await expect(bob.locator(".consult-status")).to_contain_text("Consulting agent alice")
            await bob.screenshot(path=artifacts_dir / "1-consult-requested.png", full_page=True)
            await alice.screenshot(path=artifacts_dir / "2-consult-offer.png", full_page=True)

            await alice.click("#accept")
            await expect(alice.locator(".interaction .consult-from")).to_be_visible(timeout=10_000)
            await expect(bob.locator(".consulting")).to_have_attribute(
                "data-consult-state", "connected", timeout=10_000
            )
            await expect(bob.locator(".interaction .badge")).to_have_text(" on hold")
            await expect(bob.locator(".complete-consult")).to_be_enabled()
            await bob.screenshot(path=artifacts_dir / "3-consulting.png", full_page=True)

            await bob.click(".complete-consult")
            await expect(bob.locator("#wrapup-panel")).to_be_visible(timeout=10_000)
            await expect(alice.locator(".interaction .consult-from")).to_be_hidden(timeout=10_000)
            await expect(alice.locator(".interaction .hold")).to_be_visible()
            await alice.screenshot(path=artifacts_dir / "4-transferred.png", full_page=True)

            await alice.click(".interaction .hangup")
            await expect(alice.locator("#wrapup-panel")).to_be_visible(timeout=10_000)
            await asyncio.wait_for(call, 15)
        finally:
            call.cancel()

    assert engine.acd.agent_view("bob")["state"] == "wrap_up"
    assert engine.acd.agent_view("alice")["state"] == "wrap_up"
    assert outcomes == ["answered"]
