"""Fixtures for the CTI tests: users, an in-memory desk, and a CTI server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web

import cti
from cti.hub import Hub
from cti.passwords import hash_password
from cti.settings import CtiSettings
from santral.clock import SystemClock
from santral.events import EventBus
from santral.testing.cti_client import CtiClient
from tests.cti.fake_desk import FakeDesk

PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "sam": "sam-pw"}
FAST_ITERATIONS = 1_000  # the minimum accepted, so logins in tests take microseconds


def make_settings(**overrides: Any) -> CtiSettings:
    users = [
        {"id": "alice", "name": "Alice", "role": "agent", "agent_id": "alice",
         "password_hash": hash_password(PASSWORDS["alice"], iterations=FAST_ITERATIONS)},
        {"id": "bob", "name": "Bob", "role": "agent", "agent_id": "bob",
         "password_hash": hash_password(PASSWORDS["bob"], iterations=FAST_ITERATIONS)},
        {"id": "sam", "name": "Sam", "role": "supervisor",
         "password_hash": hash_password(PASSWORDS["sam"], iterations=FAST_ITERATIONS)},
    ]
    return CtiSettings.model_validate({"users": users, **overrides})


@dataclass
class CtiServer:
    url: str
    desk: FakeDesk
    bus: EventBus
    hub: Hub
    runner: web.AppRunner

    async def client(self, user: str) -> CtiClient:
        client = CtiClient(self.url)
        await client.login(user, PASSWORDS[user])
        return client


async def start_server(settings: CtiSettings, **setup_args: Any) -> CtiServer:
    bus = EventBus()
    desk = FakeDesk(bus, SystemClock(), {"alice": "Alice", "bob": "Bob"})
    app = web.Application()
    hub = cti.setup(app, desk=desk, bus=bus, settings=settings, **setup_args)
    runner = web.AppRunner(app, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return CtiServer(f"http://127.0.0.1:{port}", desk, bus, hub, runner)


@pytest.fixture
async def server() -> AsyncIterator[CtiServer]:
    running = await start_server(make_settings())
    yield running
    await running.runner.cleanup()


@pytest.fixture
async def clients(server: CtiServer) -> AsyncIterator[dict[str, CtiClient]]:
    logged_in = {user: await server.client(user) for user in PASSWORDS}
    yield logged_in
    for client in logged_in.values():
        await client.close()
