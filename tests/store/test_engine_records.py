"""The records and the report of a whole call through the engine with the virtual caller."""

# ruff: noqa: F811 (the engine fixtures are imported, and pytest passes them by name)

from __future__ import annotations

import asyncio
from pathlib import Path

from santral.engine import Engine
from santral.reports import compute_report
from santral.telephony.virtual import KeyScript
from tests.engine.conftest import (  # noqa: F401 (fixtures)
    MONDAY_MORNING,
    crm,
    engine,
    engine_environ,
    next_event,
)

# English, billing, a Luhn-valid account number, #, confirm with 1; then 5 in the survey.
BILLING_KEYS = "1 1 1 2 3 4 5 6 7 8 9 0 3 # 1 5"
ACCOUNT = "12345678903"


async def _answered_call(engine: Engine, crm: str) -> str:
    assert engine.virtual is not None
    await engine.acd.set_status("alice", "available")
    offered = next_event(engine, "offer_created", agent_id="alice")
    call = asyncio.ensure_future(engine.virtual.place_call(
        "+905551112233", "100",
        KeyScript(keys=BILLING_KEYS.split(), key_gap=0.05, time_scale=0.0),
        lambda output: None, variables={"crm_url": crm},
    ))
    offer = await asyncio.wait_for(offered, 10)
    connected = next_event(engine, "interaction_connected")
    await engine.acd.accept("alice", offer.offer_id)  # type: ignore[attr-defined]
    await asyncio.wait_for(connected, 10)
    wrapup = next_event(engine, "wrapup_started", agent_id="alice")
    await engine.acd.hangup("alice", offer.interaction_id)  # type: ignore[attr-defined]
    await asyncio.wait_for(wrapup, 10)
    call_id = await asyncio.wait_for(call, 10)
    await engine.acd.end_wrapup("alice", "resolved", "paid by card")
    return str(call_id)


async def test_engine_call_record_and_report(
    engine: Engine, crm: str, engine_environ: dict[str, str]
) -> None:
    call_id = await _answered_call(engine, crm)
    store = engine.store
    assert store is not None
    await store.flush()
    record = await store.interaction(call_id)
    report = await compute_report(store, MONDAY_MORNING - 3600, MONDAY_MORNING + 3600,
                                  by="agent")
    database = Path(engine_environ["SANTRAL_STORE__URL"].removeprefix("sqlite:///"))
    raw = b"".join(path.read_bytes() for path in database.parent.glob("santral.db*"))

    assert record is not None
    assert record["outcome"] == "answered"
    assert record["queue"] == "billing"
    assert record["caller"] == "+905551112233"
    assert record["disposition"] == "resolved"
    assert record["survey_score"] == 5
    assert record["answered_at"] >= record["enqueued_at"]
    assert record["wrapup_ended_at"] is not None
    assert record["ivr_path"]
    assert ACCOUNT not in repr(record)
    assert ACCOUNT.encode() not in raw
    rows = {row.key: row.kpis for row in report.rows}
    assert rows["alice"].offered == 1
    assert rows["alice"].answered == 1
    assert rows["alice"].csat == 1
