"""Report output: a text table, CSV, JSON, and a PNG chart of service level, volume and ASA."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from santral.reports.report import Report, ReportRow

# Columns of the table and CSV outputs; JSON has every KPI.
TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("offered", "offered"),
    ("answered", "answered"),
    ("abandoned", "abandoned"),
    ("short_abandoned", "short ab."),
    ("service_level", "SL"),
    ("service_level_late_abandons", "SL late ab."),
    ("asa", "ASA s"),
    ("aht", "AHT s"),
    ("average_talk", "talk s"),
    ("average_wrapup", "wrap-up s"),
    ("occupancy", "occupancy"),
    ("longest_wait", "max wait s"),
    ("transfer_rate", "transfer"),
    ("fcr", "FCR"),
    ("csat", "CSAT"),
    ("csat_mean", "CSAT mean"),
    ("first_response", "1st reply s"),
)
RATES = frozenset({"service_level", "service_level_late_abandons", "occupancy",
                   "transfer_rate", "fcr", "csat"})


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2)


def render_csv(report: Report) -> str:
    """Return one CSV line per row and a ``total`` line; every KPI is a column."""
    rows = [*report.rows, report.total]
    names = list(rows[0].to_dict())
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({name: _csv_value(value) for name, value in row.to_dict().items()})
    return buffer.getvalue()


def render_table(report: Report) -> str:
    """Return an aligned text table with a header line and a ``total`` line."""
    zone = ZoneInfo(report.timezone)
    title = (
        f"by {report.by}, {_local(report.start, zone)} to {_local(report.end, zone)}"
        f" ({report.timezone}), service level threshold"
        f" {report.parameters.service_level_seconds:g} s"
    )
    header = [report.by, *(label for _, label in TABLE_COLUMNS)]
    lines = [[row.key or "-", *_cells(row)] for row in [*report.rows, report.total]]
    widths = [max(len(line[index]) for line in [header, *lines]) for index in range(len(header))]
    text = [title, _join(header, widths), _join(["-" * width for width in widths], widths)]
    text.extend(_join(line, widths) for line in lines)
    return "\n".join(text) + "\n"


def render_chart(report: Report, path: Path) -> None:
    """Draw service level, volume (offered, answered, abandoned) and ASA per row as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [row.key or "-" for row in report.rows]
    positions = list(range(len(labels)))
    figure, (volume, level, asa) = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    try:
        _draw_volume(volume, positions, report.rows)
        level.plot(positions, [_percent(row.kpis.service_level) for row in report.rows],
                   marker="o")
        level.set_ylabel("service level %")
        level.set_ylim(0, 105)
        asa.bar(positions, [row.kpis.asa or 0.0 for row in report.rows], color="tab:orange")
        asa.set_ylabel("ASA s")
        asa.set_xticks(positions, labels, rotation=60, ha="right", fontsize=7)
        volume.set_title(f"santral report by {report.by} ({report.timezone})")
        figure.tight_layout()
        figure.savefig(path, format="png", dpi=100)
    finally:
        plt.close(figure)


def _draw_volume(axes: Any, positions: list[int], rows: list[ReportRow]) -> None:
    width = 0.27
    for shift, name in ((-width, "offered"), (0.0, "answered"), (width, "abandoned")):
        axes.bar([x + shift for x in positions], [getattr(row.kpis, name) for row in rows],
                 width=width, label=name)
    axes.set_ylabel("interactions")
    axes.legend(fontsize=7)


def _percent(value: float | None) -> float:
    return float("nan") if value is None else value * 100


def _cells(row: ReportRow) -> list[str]:
    values = row.kpis.to_dict()
    return [_format(name, values[name]) for name, _ in TABLE_COLUMNS]


def _format(name: str, value: Any) -> str:
    if value is None:
        return "-"
    if name in RATES:
        return f"{value * 100:.1f}%"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _csv_value(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    return "" if value is None else value


def _join(cells: list[str], widths: list[int]) -> str:
    first = cells[0].ljust(widths[0])
    rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
    return "  ".join([first, *rest])


def _local(ts: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, zone).isoformat(timespec="minutes")
