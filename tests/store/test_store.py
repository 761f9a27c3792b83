"""The store on both databases: migrations, records, sessions, queries and masking."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import psycopg
import pytest

from santral import events as ev
from santral.clock import VirtualClock
from santral.store import Store, StoreSettings, open_store
from santral.store.records import MASK, mask_variables
from santral.store.settings import DEFAULT_SENSITIVE_NAMES
from santral.testing.postgres import PostgresServer
from tests.store.scenarios import (
    abandoned_in_ivr,
    abandoned_in_queue,
    answered_call,
    new_timeline,
)

START = 1_700_000_000.0


async def _open(url: str, clock: VirtualClock | None = None) -> Store:
    return await open_store(StoreSettings(url=url, flush_interval=0.05), clock=clock)


async def _all_rows(store: Store, table: str) -> list[dict[str, Any]]:
    return await store.run(lambda database: database.query(f"SELECT * FROM {table}"))


async def test_migrations_recorded_once(database_url: str) -> None:
    store = await _open(database_url)
    await store.close()
    store = await _open(database_url)
    rows = await _all_rows(store, "schema_migrations")
    await store.close()

    assert [row["version"] for row in rows] == [1]
    assert rows[0]["name"] == "initial"


async def test_answered_call_record(database_url: str) -> None:
    line = new_timeline(START)
    store = await _open(database_url, line.clock)
    store.attach(line.bus)
    answered_call(line, START, "c1", wait=12, talk=100, hold=30, wrapup=20, survey=5)
    await store.flush()
    record = await store.interaction("c1")
    await store.close()

    assert record is not None
    assert record["interaction_id"] == "i-c1"
    assert record["outcome"] == "answered"
    assert record["queue"] == "sales"
    assert record["agent_id"] == "ayse"
    assert record["enqueued_at"] == START + 3
    assert record["answered_at"] - record["enqueued_at"] == 12
    assert record["hold_seconds"] == 30
    assert record["talk_seconds"] == 100
    assert record["wrapup_seconds"] == 20
    assert record["disposition"] == "sale"
    assert record["survey_score"] == 5
    assert record["ivr_outcome"] == "queued"
    assert record["ivr_path"] == ["welcome", "menu"]
    assert record["ivr_variables"] == {"choice": "1", "pin": "***"}
    assert [offer["reason"] for offer in record["offer_list"]] == ["accepted"]
    assert record["survey_answers"][0]["score"] == 5


async def test_record_found_by_interaction_id(database_url: str) -> None:
    line = new_timeline(START)
    store = await _open(database_url, line.clock)
    store.attach(line.bus)
    answered_call(line, START, "c1")
    await store.flush()
    record = await store.interaction("i-c1")
    missing = await store.interaction("nope")
    await store.close()

    assert record is not None
    assert record["id"] == "c1"
    assert missing is None


async def test_abandon_outcomes(database_url: str) -> None:
    line = new_timeline(START)
    store = await _open(database_url, line.clock)
    store.attach(line.bus)
    abandoned_in_ivr(line, START, "c1", caller="+901")
    abandoned_in_queue(line, START + 10, "c2", wait=40)
    await store.flush()
    in_ivr = await store.interaction("c1")
    in_queue = await store.interaction("c2")
    await store.close()

    assert in_ivr is not None
    assert in_ivr["outcome"] == "abandoned_in_ivr"
    assert in_ivr["enqueued_at"] is None
    assert in_ivr["call_outcome"] == "caller_hangup"
    assert in_queue is not None
    assert in_queue["outcome"] == "abandoned_in_queue"
    assert in_queue["ended_at"] - in_queue["enqueued_at"] == 40


async def test_call_end_closes_unfinished_queue_wait(database_url: str) -> None:
    line = new_timeline(START)
    store = await _open(database_url, line.clock)
    store.attach(line.bus)
    line.publish(ev.CallStarted(call_id="c1", connector="virtual", caller="+901", called="1"))
    line.at(START + 2).publish(ev.InteractionQueued(interaction_id="i1", channel="voice",
                                                    queue="q", call_id="c1"))
    line.at(START + 9).publish(ev.CallEnded(call_id="c1", outcome="caller_hangup"))
    await store.flush()
    record = await store.interaction("c1")
    await store.close()

    assert record is not None
    assert record["outcome"] == "abandoned_in_queue"
    assert record["ended_at"] == START + 9
    assert record["caller"] == "+901"


async def test_overflow_creates_second_record(database_url: str) -> None:
    line = new_timeline(START)
    store = await _open(database_url, line.clock)
    store.attach(line.bus)
    line.publish(ev.CallStarted(call_id="c1", connector="virtual", caller="+901", called="1"))
    line.at(START + 1).publish(ev.InteractionQueued(interaction_id="i1", channel="voice",
                                                    queue="first", call_id="c1"))
    line.at(START + 60).publish(ev.InteractionEnded(interaction_id="i1", outcome="overflowed",
                                                    queue="first", overflow_target="second"))
    line.at(START + 60).publish(ev.InteractionQueued(interaction_id="i2", channel="voice",
                                                     queue="second", call_id="c1"))
    line.at(START + 70).publish(ev.InteractionConnected(interaction_id="i2", agent_id="a"))
    await store.flush()
    first = await store.interaction("i1")
    second = await store.interaction("i2")
    await store.close()

    assert first is not None
    assert second is not None
    assert first["outcome"] == "overflowed"
    assert first["overflow_target"] == "second"
    assert second["id"] == "i2"
    assert second["call_id"] == "c1"
    assert second["caller"] == "+901"
    assert second["queue"] == "second"
    assert second["answered_at"] == START + 70


async def test_written_interaction_without_call(database_url: str) -> None:
    line = new_timeline(START)
    store = await _open(database_url, line.clock)
    store.attach(line.bus)
    line.publish(ev.InteractionQueued(interaction_id="m1", channel="email", queue="support",
                                      caller="ayse@example.com"))
    await store.flush()
    record = await store.interaction("m1")
    await store.close()

    assert record is not None
    assert record["channel"] == "email"
    assert record["caller"] == "ayse@example.com"
    assert record["arrived_at"] == START


async def test_agent_changes_recorded(database_url: str) -> None:
    line = new_timeline(START)
    store = await _open(database_url, line.clock)
    store.attach(line.bus)
    line.publish(ev.AgentStatusChanged(agent_id="a", old="logged_out", new="available"))
    line.at(START + 5).publish(ev.AgentStateChanged(agent_id="a", old="idle", new="reserved"))
    await store.flush()
    rows = await _all_rows(store, "agent_changes")
    await store.close()

    assert [(row["kind"], row["new"], row["ts"]) for row in rows] == [
        ("status", "available", START), ("state", "reserved", START + 5),
    ]


async def test_sessions_durable_across_reopen(database_url: str) -> None:
    store = await _open(database_url)
    await store.save_session("c1", {"node": "menu", "tries": 2})
    await store.save_session("c1", {"node": "pay", "tries": 0})
    await store.save_session("c2", {"node": "x"})
    await store.delete_session("c2")
    await store.delete_session("never-saved")
    await store.close()
    store = await _open(database_url)
    state = await store.load_session("c1")
    gone = await store.load_session("c2")
    await store.close()

    assert state == {"node": "pay", "tries": 0}
    assert gone is None


async def test_previous_interactions_window(database_url: str) -> None:
    line = new_timeline(START)
    store = await _open(database_url, line.clock)
    store.attach(line.bus)
    answered_call(line, START, "old", caller="+907")
    answered_call(line, START + 5 * 86400, "recent", caller="+907")
    answered_call(line, START + 5 * 86400 + 500, "other", caller="+908")
    answered_call(line, START + 5 * 86400 + 1000, "current", caller="+907")
    await store.flush()
    found = await store.previous_interactions("+907", days=3, exclude="i-current")
    everything = await store.previous_interactions("+907", days=30)
    await store.close()

    assert [row["id"] for row in found] == ["recent"]
    assert [row["id"] for row in everything] == ["current", "recent", "old"]


async def test_close_flushes_buffer(database_url: str) -> None:
    line = new_timeline(START)
    store = await open_store(StoreSettings(url=database_url, flush_interval=1.0),
                             clock=line.clock)
    store.attach(line.bus)
    answered_call(line, START, "c1")
    await store.close()
    store = await _open(database_url)
    record = await store.interaction("c1")
    await store.close()

    assert record is not None
    assert record["disposition"] == "sale"


async def test_flush_loop_writes_without_flush_call(database_url: str) -> None:
    line = new_timeline(START)
    store = await _open(database_url, line.clock)
    store.attach(line.bus)
    line.publish(ev.CallStarted(call_id="c1", connector="virtual", caller="+1", called="2"))
    record = None
    for _ in range(200):  # bounded wait for the 0.05 s flush task
        record = await store.interaction("c1")
        if record is not None:
            break
        await _short_pause()
    await store.close()

    assert record is not None


async def _short_pause() -> None:
    await asyncio.sleep(0.02)


async def test_sensitive_variables_never_stored_clear(database_url: str, tmp_path: Path) -> None:
    line = new_timeline(START)
    store = await _open(database_url, line.clock)
    store.attach(line.bus)
    line.publish(ev.CallStarted(call_id="c1", connector="virtual", caller="+1", called="2"))
    line.publish(ev.IvrFinished(call_id="c1", outcome="queued", variables={
        "account_pin": "4711", "CardNumber": "4111111111111111", "choice": "2",
    }))
    line.publish(ev.InteractionQueued(interaction_id="i1", channel="voice", queue="q",
                                      call_id="c1"))
    line.publish(ev.OfferCreated(offer_id="o1", interaction_id="i1", agent_id="a", queue="q",
                                 channel="voice", timeout=10, pop={"pin": "4711"}))
    await store.flush()
    dump = ""
    for table in ("interactions", "ivr_variables", "events", "offers"):
        dump += repr(await _all_rows(store, table))
    record = await store.interaction("c1")
    await store.close()

    assert record is not None
    assert record["ivr_variables"] == {"account_pin": "***", "CardNumber": "***", "choice": "2"}
    assert "4711" not in dump
    assert "4111111111111111" not in dump
    if database_url.startswith("sqlite:///"):
        raw = _read_database_files(tmp_path)
        assert b"4111111111111111" not in raw
        assert b"4711" not in raw


def _read_database_files(folder: Path) -> bytes:
    """Return the SQLite file and its WAL, to check what reached the disk."""
    return b"".join(path.read_bytes() for path in sorted(folder.glob("santral.db*")))


async def test_postgres_reconnects_after_disconnect(postgres: PostgresServer) -> None:
    database_url = postgres.create_database("reconnect_test")
    line = new_timeline(START)
    store = await _open(database_url, line.clock)
    store.attach(line.bus)
    line.publish(ev.CallStarted(call_id="c1", connector="virtual", caller="+1", called="2"))
    await store.flush()
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                      " WHERE datname = current_database() AND pid <> pg_backend_pid()")
    line.publish(ev.CallStarted(call_id="c2", connector="virtual", caller="+1", called="2"))
    for _ in range(3):  # the first flush may find the connection dead and keep the batch
        await store.flush()
        if not store.pending:
            break
    record = await store.interaction("c2")
    await store.close()

    assert record is not None
    assert store.dropped == 0


async def test_cancelled_flush_keeps_rest(tmp_path: Path) -> None:
    line = new_timeline(START)
    settings = StoreSettings(url=f"sqlite:///{tmp_path / 'c.db'}", batch_size=10,
                             flush_interval=1.0)
    store = await open_store(settings, clock=line.clock)
    store.attach(line.bus)
    for number in range(100):
        line.publish(ev.CallStarted(call_id=f"c{number}", connector="virtual", caller="+1",
                                    called="2"))
    flushing = asyncio.create_task(store.flush())
    await asyncio.sleep(0)
    flushing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await flushing
    await store.close()
    store = await open_store(settings)
    rows = await _all_rows(store, "interactions")
    await store.close()

    assert len(rows) == 100


async def test_call_outcome_taken_from_call_end(database_url: str) -> None:
    line = new_timeline(START)
    store = await _open(database_url, line.clock)
    store.attach(line.bus)
    for call_id, outcome in (("c1", "voicemail"), ("c2", "completed_in_ivr"),
                             ("c3", "rejected"), ("c4", "caller_hangup")):
        line.publish(ev.CallStarted(call_id=call_id, connector="virtual", caller="+1",
                                    called="2"))
        line.publish(ev.CallEnded(call_id=call_id, outcome=outcome))
    await store.flush()
    outcomes = [(await store.interaction(call_id) or {}).get("outcome")
                for call_id in ("c1", "c2", "c3", "c4")]
    await store.close()

    assert outcomes == ["voicemail", "completed_in_ivr", "rejected", "abandoned_in_ivr"]


@pytest.mark.parametrize(
    ("name", "masked"),
    [("account_pin", True), ("CardNumber", True), ("accountPIN", True), ("CVV2", True),
     ("pincode", True), ("shipping", False), ("company", False), ("choice", False)],
)
def test_mask_variable_names(name: str, masked: bool) -> None:
    result = mask_variables({name: "4711", "nested": {name: "4711"}}, DEFAULT_SENSITIVE_NAMES)

    assert (result[name] == MASK) is masked
    assert (result["nested"][name] == MASK) is masked


async def test_rejected_event_spares_batch(database_url: str) -> None:
    line = new_timeline(START)
    store = await _open(database_url, line.clock)
    store.attach(line.bus)
    line.publish(ev.CallStarted(call_id="c1", connector="virtual", caller="+1", called="2"))
    line.publish(ev.SurveyAnswered(call_id="c1", question="csat", score=2**70))
    line.publish(ev.CallStarted(call_id="c2", connector="virtual", caller="+1", called="2"))
    written = await store.flush()
    first = await store.interaction("c1")
    second = await store.interaction("c2")
    await store.close()

    assert written == 2
    assert store.dropped == 1
    assert first is not None
    assert second is not None
