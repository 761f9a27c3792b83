"""An engine on the shipped config, on a free port with its own SQLite file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from santral.clock import ShiftedClock
from santral.config import load_config
from santral.engine import Engine
from santral.events import Event
from tests.conftest import REPOSITORY

# A Monday at 10:00 in Istanbul: the sample dialplans are open for business.
MONDAY_MORNING = datetime.fromisoformat("2026-12-07T10:00:00+03:00").timestamp()


class EventLog:
    """Every event the engine publishes, for assertions."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of(self, event_type: str) -> list[Event]:
        return [event for event in self.events if event.type == event_type]


@pytest.fixture
async def crm() -> AsyncIterator[str]:
    """A CRM answering customer look-ups, as the sample dialplan's data dip expects."""

    async def customer(request: web.Request) -> web.Response:
        account = request.match_info["account"]
        body: dict[str, Any] = {"customer": {"name": "Ayşe Yılmaz", "vip": False, "tier": "silver"}}
        return web.json_response(body if account == "12345678903" else {}, status=200)

    app = web.Application()
    app.router.add_get("/crm/customers/{account}", customer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/crm"
    await runner.cleanup()


@pytest.fixture
def engine_environ(tmp_path: Path) -> dict[str, str]:
    """Overrides for the shipped config: free ports and files under ``tmp_path``."""
    return {
        "SANTRAL_HTTP__PORT": "0",
        "SANTRAL_STORE__URL": f"sqlite:///{tmp_path / 'santral.db'}",
        "SANTRAL_EMAIL__LISTEN_PORT": "0",
        "SANTRAL_EMAIL__ATTACHMENTS_FOLDER": str(tmp_path / "attachments"),
        "SANTRAL_ASTERISK__FASTAGI__PORT": "0",
    }


@pytest.fixture
async def engine(engine_environ: dict[str, str]) -> AsyncIterator[Engine]:
    config = load_config(REPOSITORY / "config.yaml", environ=engine_environ)
    engine = Engine(config, clock=ShiftedClock(MONDAY_MORNING), environ=engine_environ)
    await engine.start()
    yield engine
    await engine.stop()


@pytest.fixture
def event_log(engine: Engine) -> EventLog:
    log = EventLog()
    engine.bus.subscribe(log)
    return log


def next_event(engine: Engine, event_type: str, **match: Any) -> asyncio.Future[Event]:
    """Return a future for the next event of ``event_type`` whose fields equal ``match``.

    It subscribes at once, so an event published before the caller awaits still counts.
    """
    future: asyncio.Future[Event] = asyncio.get_running_loop().create_future()

    def check(event: Event) -> None:
        if event.type != event_type or future.done():
            return
        if all(getattr(event, name, None) == value for name, value in match.items()):
            future.set_result(event)

    unsubscribe = engine.bus.subscribe(check)
    future.add_done_callback(lambda _: unsubscribe())
    return future
