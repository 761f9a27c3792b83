"""Simulation output: the KPI table, CSV, JSON and the PNG chart."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from rich.table import Table

from acd.sim_kpi import ALL_QUEUES, METRICS, TOTAL, Estimate, SummaryRow

_PERCENT = {"service_level", "p_wait", "abandon_rate", "occupancy"}


def clock_label(seconds: float) -> str:
    """Format seconds from the start as ``HH:MM``, or ``total`` for the summary rows."""
    if seconds == TOTAL:
        return "total"
    minutes = int(seconds // 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def format_estimate(name: str, value: Estimate) -> str:
    """Format a metric's mean, with ``± half-width`` when it is known."""
    if math.isnan(value.mean):
        return "-"
    if name in _PERCENT:
        text = f"{value.mean * 100:.1f}%"
        spread = f" ± {value.half_width * 100:.1f}"
    else:
        text = f"{value.mean:.1f}"
        spread = f" ± {value.half_width:.1f}"
    return text if math.isnan(value.half_width) else text + spread


def kpi_table(rows: list[SummaryRow], title: str, queue: str = ALL_QUEUES) -> Table:
    """Build the interval table for one queue (``*`` for all queues)."""
    table = Table(title=title)
    for header in ("interval", "offered", "answered", "abandoned"):
        table.add_column(header, justify="right")
    for header in ("service level", "ASA s", "abandon", "occupancy", "agents"):
        table.add_column(header, justify="right")
    for row in rows:
        if row.queue != queue:
            continue
        table.add_row(
            clock_label(row.start),
            f"{row.offered:.1f}",
            f"{row.answered:.1f}",
            f"{row.abandoned:.1f}",
            format_estimate("service_level", row.metrics["service_level"]),
            format_estimate("asa", row.metrics["asa"]),
            format_estimate("abandon_rate", row.metrics["abandon_rate"]),
            format_estimate("occupancy", row.metrics["occupancy"]),
            format_estimate("agents", row.metrics["agents"]),
        )
    return table


def write_csv(rows: list[SummaryRow], path: Path) -> None:
    """Write one line per interval and queue: counts, each metric and its 95 % half-width."""
    header = ["interval", "start_seconds", "queue", "offered", "answered", "abandoned"]
    for name in METRICS:
        header += [name, f"{name}_ci95"]
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        for row in rows:
            line: list[Any] = [clock_label(row.start), row.start, row.queue]
            line += [row.offered, row.answered, row.abandoned]
            for name in METRICS:
                value = row.metrics[name]
                line += [_number(value.mean), _number(value.half_width)]
            writer.writerow(line)


def write_json(rows: list[SummaryRow], meta: dict[str, Any], path: Path) -> None:
    """Write the run's parameters under ``meta`` and every row under ``intervals``.

    NaN (no interactions in an interval) is written as ``null``.
    """
    document = {**meta, "intervals": [_row_document(row) for row in rows]}
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def _row_document(row: SummaryRow) -> dict[str, Any]:
    metrics = {
        name: {"mean": _json_number(value.mean), "ci95": _json_number(value.half_width)}
        for name, value in row.metrics.items()
    }
    return {
        "interval": clock_label(row.start),
        "start_seconds": row.start,
        "queue": row.queue,
        "offered": row.offered,
        "answered": row.answered,
        "abandoned": row.abandoned,
        **metrics,
    }


def _number(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.6g}"


def _json_number(value: float) -> float | None:
    return None if math.isnan(value) else value


def draw_chart(rows: list[SummaryRow], path: Path, title: str, target: float | None = None) -> None:
    """Draw service level, ASA and occupancy per interval for all queues as a PNG.

    Error bars show the 95 % confidence interval when there are replications.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    intervals = [row for row in rows if row.queue == ALL_QUEUES and row.start != TOTAL]
    labels = [clock_label(row.start) for row in intervals]
    figure, axes = pyplot.subplots(3, 1, figsize=(10, 8), sharex=True)
    panels = [
        ("service_level", "service level %", 100.0),
        ("asa", "ASA s", 1.0),
        ("occupancy", "occupancy %", 100.0),
    ]
    for axis, (name, label, scale) in zip(axes, panels, strict=True):
        means = [row.metrics[name].mean * scale for row in intervals]
        spreads = [_zero_if_nan(row.metrics[name].half_width) * scale for row in intervals]
        axis.errorbar(range(len(labels)), means, yerr=spreads, marker="o", capsize=3)
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    if target is not None:
        axes[0].axhline(target * 100.0, color="tab:red", linestyle="--", label="target")
        axes[0].legend()
    axes[-1].set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)


def _zero_if_nan(value: float) -> float:
    return 0.0 if math.isnan(value) else value
