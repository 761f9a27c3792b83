"""KPIs computed from the store on both databases, and their renderings."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from santral import events as ev
from santral.reports import ReportError, compute_report, render_csv, render_json, render_table
from santral.reports.render import render_chart
from santral.store import Store, StoreSettings, open_store
from tests.store.scenarios import (
    Timeline,
    abandoned_in_ivr,
    abandoned_in_queue,
    answered_call,
    new_timeline,
)

HOUR = 1_699_999_200.0  # 2023-11-14 22:00 UTC, on an hour boundary


async def _store_with_day(url: str) -> tuple[Store, Timeline]:
    line = new_timeline(HOUR)
    store = await open_store(StoreSettings(url=url, flush_interval=0.05), clock=line.clock)
    store.attach(line.bus)
    line.publish(ev.AgentStatusChanged(agent_id="ayse", old="logged_out", new="available"))
    line.publish(ev.AgentStateChanged(agent_id="ayse", old="idle", new="idle"))
    answered_call(line, HOUR, "c1", caller="+901", agent="ayse", wait=12, talk=100, wrapup=20,
                  survey=5)
    for offset, old, new in ((15, "idle", "busy"), (115, "busy", "wrap_up"),
                             (135, "wrap_up", "idle")):
        line.publish(ev.AgentStateChanged(agent_id="ayse", old=old, new=new, ts=HOUR + offset))
    answered_call(line, HOUR + 1000, "c2", caller="+902", agent="mehmet", wait=30, talk=200,
                  hold=30, wrapup=10, survey=3)
    abandoned_in_queue(line, HOUR + 2000, "c3", wait=15, caller="+903")
    abandoned_in_queue(line, HOUR + 2500, "c4", wait=3, caller="+904")
    abandoned_in_ivr(line, HOUR + 3 * 86400, "c5", caller="+90 1")
    await store.flush()
    return store, line


async def test_report_by_queue(database_url: str) -> None:
    store, _ = await _store_with_day(database_url)
    report = await compute_report(store, HOUR, HOUR + 3600, by="queue")
    await store.close()

    assert [row.key for row in report.rows] == ["sales"]
    kpis = report.rows[0].kpis
    assert kpis.offered == 4
    assert kpis.answered == 2
    assert kpis.abandoned == 1
    assert kpis.short_abandoned == 1
    assert kpis.answered_within_threshold == 1
    assert kpis.service_level == pytest.approx(1 / 3)
    assert kpis.service_level_late_abandons == pytest.approx(1 / 2)
    assert kpis.abandon_rate == pytest.approx(1 / 3)
    assert kpis.asa == pytest.approx(21)
    assert kpis.aht == pytest.approx(180)
    assert kpis.average_talk == pytest.approx(150)
    assert kpis.average_hold == pytest.approx(15)
    assert kpis.average_wrapup == pytest.approx(15)
    assert kpis.longest_wait == pytest.approx(30)
    assert kpis.transfer_rate == 0
    assert kpis.fcr == pytest.approx(0.5)
    assert kpis.csat == pytest.approx(0.5)
    assert kpis.csat_mean == pytest.approx(4)
    assert kpis.occupancy is None
    assert report.total.kpis.offered == 4
    assert report.total.kpis.occupancy == pytest.approx(120 / 3600)


async def test_report_by_agent_occupancy(database_url: str) -> None:
    store, _ = await _store_with_day(database_url)
    report = await compute_report(store, HOUR, HOUR + 3600, by="agent")
    await store.close()

    by_agent = {row.key: row.kpis for row in report.rows}
    assert set(by_agent) == {"", "ayse", "mehmet"}
    assert by_agent["ayse"].answered == 1
    assert by_agent["ayse"].occupancy == pytest.approx(120 / 3600)
    assert by_agent["mehmet"].occupancy is None
    assert by_agent[""].abandoned == 1


async def test_report_by_interval(database_url: str) -> None:
    store, _ = await _store_with_day(database_url)
    report = await compute_report(store, HOUR, HOUR + 7200, by="interval", interval_minutes=30)
    await store.close()

    assert [row.interval_start for row in report.rows] == [
        HOUR, HOUR + 1800, HOUR + 3600, HOUR + 5400,
    ]
    assert [row.kpis.offered for row in report.rows] == [2, 2, 0, 0]
    assert [row.kpis.answered for row in report.rows] == [2, 0, 0, 0]
    assert report.rows[0].key == "2023-11-14T22:00+00:00"
    assert report.rows[2].kpis.service_level is None


async def test_report_by_channel(database_url: str) -> None:
    line = new_timeline(HOUR)
    store = await open_store(StoreSettings(url=database_url), clock=line.clock)
    store.attach(line.bus)
    answered_call(line, HOUR, "c1", caller="x@example.com", channel="email", wait=600)
    answered_call(line, HOUR + 1000, "c2", caller="+905", wait=5)
    answered_call(line, HOUR + 2000, "c3", caller="X@Example.com", channel="chat", wait=5)
    await store.flush()
    report = await compute_report(store, HOUR, HOUR + 3600, by="channel")
    await store.close()

    by_channel = {row.key: row.kpis for row in report.rows}
    assert set(by_channel) == {"chat", "email", "voice"}
    assert by_channel["email"].service_level == 0
    assert by_channel["voice"].service_level == 1
    assert by_channel["email"].fcr == 0  # the same person wrote again by chat
    assert by_channel["chat"].fcr == 1


async def test_report_day_in_local_timezone(database_url: str) -> None:
    line = new_timeline(HOUR)
    settings = StoreSettings(url=database_url, report_timezone="Europe/Istanbul")
    store = await open_store(settings, clock=line.clock)
    store.attach(line.bus)
    answered_call(line, HOUR, "c1")  # 01:00 in Istanbul (UTC+3), the next local day
    await store.flush()
    report = await compute_report(store, HOUR - 86400, HOUR + 3600, by="interval",
                                  interval_minutes=1440)
    await store.close()

    assert [row.key for row in report.rows] == ["2023-11-14T00:00+03:00", "2023-11-15T00:00+03:00"]
    assert [row.kpis.offered for row in report.rows] == [0, 1]


async def test_report_rejects_bad_parameters(database_url: str) -> None:
    store = await open_store(StoreSettings(url=database_url))
    with pytest.raises(ReportError, match="invalid grouping 'team'"):
        await compute_report(store, HOUR, HOUR + 60, by="team")
    with pytest.raises(ReportError, match="invalid interval 45"):
        await compute_report(store, HOUR, HOUR + 60, by="interval", interval_minutes=45)
    with pytest.raises(ReportError, match="period is empty"):
        await compute_report(store, HOUR, HOUR, by="queue")
    await store.close()


async def test_renderings_agree(tmp_path: Path) -> None:
    store, _ = await _store_with_day(f"sqlite:///{tmp_path / 'r.db'}")
    report = await compute_report(store, HOUR, HOUR + 3600, by="interval", interval_minutes=60)
    await store.close()

    table = render_table(report)
    rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    data = json.loads(render_json(report))
    assert "33.3%" in table
    assert table.splitlines()[-1].startswith("total")
    assert [row["key"] for row in rows] == ["2023-11-14T22:00+00:00", "total"]
    assert rows[0]["offered"] == "4"
    assert float(rows[0]["service_level"]) == pytest.approx(0.3333)
    assert data["rows"][0]["asa"] == pytest.approx(21)
    assert data["service_level_seconds"] == 20


async def test_chart_written_as_png(tmp_path: Path) -> None:
    store, _ = await _store_with_day(f"sqlite:///{tmp_path / 'r.db'}")
    report = await compute_report(store, HOUR, HOUR + 7200, by="interval", interval_minutes=15)
    await store.close()
    chart = tmp_path / "out.png"

    render_chart(report, chart)

    assert chart.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
