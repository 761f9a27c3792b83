"""Fixtures: the connector on a local aiohttp server, the engine side, the Twilio peer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from aiohttp import web

from santral.clock import SystemClock
from santral.events import EventBus
from santral.telephony.twilio import (
    MemorySessionStore,
    TwilioConnector,
    TwilioSettings,
    setup_routes,
)
from santral.testing.twilio_peer import TwilioPeer
from tests.twilio.flows import MenuFlow
from tests.twilio.wire import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL

ENVIRON = {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN}


@dataclass
class Rig:
    """One engine process serving Twilio, and the peer that calls it."""

    flow: MenuFlow
    connector: TwilioConnector
    peer: TwilioPeer
    store: MemorySessionStore
    base_url: str


async def until(predicate: Callable[[], object], seconds: float = 5.0) -> None:
    """Wait until ``predicate()`` is true, checking every 10 ms; fail after ``seconds``."""
    for _ in range(int(seconds / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"condition not met within {seconds} s")


async def serve(connector: TwilioConnector) -> tuple[web.AppRunner, str]:
    app = web.Application()
    setup_routes(app, connector)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


def make_connector(
    flow: MenuFlow, store: MemorySessionStore, peer: TwilioPeer | None, **settings: object
) -> TwilioConnector:
    options: dict[str, object] = {"public_url": PUBLIC_URL, "reply_budget": 0.3}
    options.update(settings)
    return TwilioConnector(
        TwilioSettings.model_validate(options),
        flow,
        clock=SystemClock(),
        bus=EventBus(),
        store=store,
        rest_client=peer.rest_client() if peer else None,
        environ=ENVIRON,
    )


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {}


@pytest.fixture
async def rig(settings_overrides: dict[str, object]) -> AsyncIterator[Rig]:
    flow = MenuFlow()
    store = MemorySessionStore()
    peer = TwilioPeer(
        target_url="http://127.0.0.1:1",
        public_url=PUBLIC_URL,
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        time_scale=0.01,
    )
    connector = make_connector(flow, store, peer, **settings_overrides)
    await connector.start()
    runner, base_url = await serve(connector)
    peer.target_url = base_url
    async with peer:
        yield Rig(flow, connector, peer, store, base_url)
    await connector.stop()
    await runner.cleanup()
