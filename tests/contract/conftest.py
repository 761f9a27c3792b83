"""The engine on the shipped config with one connector's caller driver attached."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from santral.clock import ShiftedClock
from santral.config import load_config
from santral.engine import Engine
from santral.events import Event
from tests.conftest import REPOSITORY, require_program
from tests.contract.drivers import (
    AMI_SECRET,
    AMI_SECRET_ENV,
    WAIT_LIMIT,
    AsteriskDriver,
    CallerDriver,
    SipDriver,
    TwilioDriver,
    VirtualDriver,
    until,
)
from tests.engine import conftest as engine_fixtures

CONNECTORS = ("virtual", "twilio", "asterisk", "sip")
SIP_PROGRAMS = ("kamailio", "kamcmd", "sipp", "baresip")


def connectors(xfail: dict[str, str] | None = None) -> list[Any]:
    """Return ``site`` parameters for every connector, with ``xfail`` reasons by name.

    A reason marks that connector's case as a strict expected failure: it fails today for
    the reason given, and the suite reports when it starts passing.
    """
    reasons = xfail or {}
    params = []
    for name in CONNECTORS:
        marks: list[Any] = [pytest.mark.peer, pytest.mark.slow] if name == "sip" else []
        if name in reasons:
            marks.append(pytest.mark.xfail(strict=True, reason=reasons[name]))
        params.append(pytest.param(name, marks=marks, id=name))
    return params


def new_driver(name: str) -> CallerDriver:
    if name == "sip":
        for program in SIP_PROGRAMS:
            require_program(program)
    drivers: dict[str, type[CallerDriver]] = {
        "virtual": VirtualDriver,
        "twilio": TwilioDriver,
        "asterisk": AsteriskDriver,
        "sip": SipDriver,
    }
    return drivers[name]()


@dataclass
class Site:
    """A running engine, the driver that calls into it, and every event it published."""

    engine: Engine
    driver: CallerDriver
    events: list[Event] = field(default_factory=list)

    def of(self, event_type: str, **match: Any) -> list[Event]:
        """Return the events of ``event_type`` whose fields equal ``match``, in order."""
        return [
            event
            for event in self.events
            if event.type == event_type
            and all(getattr(event, name, None) == value for name, value in match.items())
        ]

    async def wait_for(
        self, event_type: str, count: int = 1, within: float = WAIT_LIMIT, **match: Any
    ) -> Event:
        """Wait until ``count`` matching events were published; return the last of them."""
        await until(lambda: len(self.of(event_type, **match)) >= count, within)
        return self.of(event_type, **match)[count - 1]

    def call_id(self) -> str:
        started = self.of("call_started")
        assert len(started) == 1, started
        return str(getattr(started[0], "call_id", ""))

    async def record(self) -> dict[str, Any]:
        """Return the store's record of this test's one call."""
        assert self.engine.store is not None
        await self.engine.store.flush()
        record = await self.engine.store.interaction(self.call_id())
        assert record is not None
        return record


MONDAY_MORNING = engine_fixtures.MONDAY_MORNING
# The engine tests' overrides of the shipped config: free ports, files under tmp_path.
engine_environ = engine_fixtures.engine_environ

# A missed call is offered to the same agent again after this delay (10 s shipped).
REOFFER_DELAY = {"SANTRAL_ACD__QUEUES__SALES__REOFFER_DELAY": "0.5"}


@pytest.fixture
async def site(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    engine_environ: dict[str, str],
) -> AsyncIterator[Site]:
    driver = new_driver(request.param)
    try:
        await driver.prepare(tmp_path)
        # The Asterisk connector reads its AMI secret from the engine's environment.
        secret = {AMI_SECRET_ENV: AMI_SECRET}
        environ = {**engine_environ, **REOFFER_DELAY, **secret, **driver.environ()}
        config = load_config(REPOSITORY / "config.yaml", environ=environ)
        engine = Engine(config, clock=ShiftedClock(MONDAY_MORNING), environ=environ)
        site = Site(engine, driver)
        engine.bus.subscribe(site.events.append)
        await engine.start()
        try:
            await driver.attach(engine)
            yield site
        finally:
            await engine.stop()
    finally:
        await driver.close()


def outcomes(events: Iterable[Event]) -> list[str]:
    return [str(getattr(event, "outcome", "")) for event in events]
