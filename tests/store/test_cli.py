"""``santral report`` and ``santral erase`` against a SQLite file named in a config file."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path

from click.testing import CliRunner

from santral.store import StoreSettings, open_store
from santral.store.cli import erase, report
from tests.store.scenarios import answered_call, new_timeline

HOUR = 1_699_999_200.0  # 2023-11-14 22:00 UTC


async def _fill(database: Path) -> None:
    line = new_timeline(HOUR)
    store = await open_store(StoreSettings(url=f"sqlite:///{database}"), clock=line.clock)
    store.attach(line.bus)
    answered_call(line, HOUR, "c1", caller="+901", wait=10)
    answered_call(line, HOUR + 1000, "c2", caller="+902", wait=40, queue="support")
    await store.close()


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text("store:\n  url: sqlite:///data/santral.db\n", encoding="utf-8")
    asyncio.run(_fill(tmp_path / "data" / "santral.db"))
    return config


def test_report_csv_by_queue(tmp_path: Path) -> None:
    config = _config(tmp_path)
    result = CliRunner().invoke(report, [
        "--from", "2023-11-14T22:00", "--to", "2023-11-14T23:00", "--by", "queue",
        "--format", "csv", "-c", str(config),
    ])

    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["key"] for row in rows] == ["sales", "support", "total"]
    assert [row["service_level"] for row in rows] == ["1.0", "0.0", "0.5"]


def test_report_table_with_chart(tmp_path: Path) -> None:
    config = _config(tmp_path)
    chart = tmp_path / "out.png"
    result = CliRunner().invoke(report, [
        "--from", "2023-11-14T22:00", "--to", "2023-11-15T00:00", "--by", "interval",
        "--interval", "30", "--chart", str(chart), "-c", str(config),
    ])

    assert result.exit_code == 0, result.output
    assert "2023-11-14T22:30+00:00" in result.stdout
    assert chart.read_bytes().startswith(b"\x89PNG")


def test_report_json_default_day(tmp_path: Path) -> None:
    config = _config(tmp_path)
    result = CliRunner().invoke(report, ["--from", "2023-11-14", "--format", "json", "-c",
                                         str(config)])

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["total"]["offered"] == 2


def test_report_invalid_date(tmp_path: Path) -> None:
    result = CliRunner().invoke(report, ["--from", "yesterday", "-c", str(_config(tmp_path))])

    assert result.exit_code == 2
    assert "'yesterday' is not an ISO date" in result.output


def test_erase_prints_counts(tmp_path: Path) -> None:
    config = _config(tmp_path)
    result = CliRunner().invoke(erase, ["--caller", "+901", "-c", str(config)])

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["counts"]["interactions"] == 1
