"""Retention and erasure on both databases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from santral import events as ev
from santral.clock import VirtualClock
from santral.store import RetentionSettings, Store, StoreSettings, open_store
from santral.store.privacy import ERASED_CALLER, erase_caller, run_retention
from tests.store.scenarios import answered_call, new_timeline

DAY = 86400.0
START = 1_700_000_000.0


async def _count(store: Store, table: str) -> int:
    rows = await store.run(lambda database: database.query(f"SELECT COUNT(*) AS n FROM {table}"))
    return int(rows[0]["n"])


async def _rows(store: Store, sql: str) -> list[dict[str, Any]]:
    return await store.run(lambda database: database.query(sql))


async def test_erase_caller_everywhere(database_url: str, tmp_path: Path) -> None:
    line = new_timeline(START)
    store = await open_store(StoreSettings(url=database_url), clock=line.clock)
    store.attach(line.bus)
    recording = tmp_path / "c1.wav"
    recording.write_bytes(b"RIFF")
    answered_call(line, START, "c1", caller="+905550001", survey=4)
    line.publish(ev.RecordingSaved(call_id="c1", path=str(recording), duration=3))
    answered_call(line, START + 1000, "c2", caller="+905550002", survey=5)
    await store.save_session("c1", {"node": "menu"})

    result = await erase_caller(store, "+905550001")
    erased = await store.interaction("c1")
    kept = await store.interaction("c2")
    events_text = repr(await _rows(store, "SELECT body FROM events"))
    session = await store.load_session("c1")
    await store.close()

    assert result.counts["interactions"] == 1
    assert result.counts["ivr_steps"] == 2
    assert result.counts["survey_answers"] == 1
    assert result.counts["recordings"] == 1
    assert result.counts["sessions"] == 1
    assert result.counts["events"] > 5
    assert result.files_deleted == [str(recording)]
    assert not recording.exists()
    assert erased is not None
    assert erased["caller"] == ERASED_CALLER
    assert erased["ivr_path"] == []
    assert erased["ivr_variables"] == {}
    assert erased["answered_at"] is not None  # kept, anonymised, for the KPIs
    assert "+905550001" not in events_text
    assert session is None
    assert kept is not None
    assert kept["caller"] == "+905550002"
    assert kept["ivr_path"] == ["welcome", "menu"]


async def test_erase_unknown_caller_touches_nothing(database_url: str) -> None:
    store = await open_store(StoreSettings(url=database_url))
    result = await erase_caller(store, "+1000")
    await store.close()

    assert result.counts["interactions"] == 0
    assert result.files_deleted == []


async def test_retention_per_record_type(database_url: str, tmp_path: Path) -> None:
    line = new_timeline(START)
    retention = RetentionSettings(interactions=30, ivr_variables=2, recordings=10,
                                  survey_answers=10, sessions=1)
    settings = StoreSettings(url=database_url, retention=retention)
    store = await open_store(settings, clock=line.clock)
    store.attach(line.bus)
    old_file, new_file = tmp_path / "old.wav", tmp_path / "new.wav"
    old_file.write_bytes(b"RIFF")
    new_file.write_bytes(b"RIFF")
    answered_call(line, START, "old", survey=5)
    line.publish(ev.RecordingSaved(call_id="old", path=str(old_file)))
    answered_call(line, START + 15 * DAY, "middle", survey=4)
    line.publish(ev.RecordingSaved(call_id="middle", path=str(new_file)))
    answered_call(line, START + 29 * DAY, "new", survey=3)
    await store.save_session("stale", {"node": "x"})
    await store.flush()

    result = await run_retention(store, settings, VirtualClock(START + 31 * DAY))
    ids = [row["id"] for row in await _rows(store, "SELECT id FROM interactions ORDER BY id")]
    variables = await _rows(store, "SELECT record_id FROM ivr_variables")
    surveys = await _rows(store, "SELECT record_id FROM survey_answers ORDER BY record_id")
    middle = await store.interaction("middle")
    await store.close()

    assert ids == ["middle", "new"]
    assert result.counts["interactions"] == 1
    assert {row["record_id"] for row in variables} == {"new"}
    assert [row["record_id"] for row in surveys] == ["new"]
    assert middle is not None
    assert middle["survey_score"] is None
    assert middle["ivr_path"] == ["welcome", "menu"]
    assert sorted(result.files_deleted) == sorted([str(old_file), str(new_file)])
    assert result.counts["sessions"] == 1


async def test_retention_zero_keeps_forever(database_url: str) -> None:
    line = new_timeline(START)
    retention = RetentionSettings(interactions=0, ivr_variables=0, recordings=0,
                                  survey_answers=0, sessions=0)
    settings = StoreSettings(url=database_url, retention=retention)
    store = await open_store(settings, clock=line.clock)
    store.attach(line.bus)
    answered_call(line, START, "old", survey=5)
    await store.flush()

    result = await run_retention(store, settings, VirtualClock(START + 5000 * DAY))
    count = await _count(store, "interactions")
    await store.close()

    assert result.counts == {}
    assert count == 1
