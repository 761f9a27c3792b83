"""The ``santral simulate`` and ``santral erlang`` commands.

``commands`` lists them for the ``santral`` group to register.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import click
import structlog
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from acd.erlang import (
    ErlangAResult,
    ErlangCResult,
    ErlangError,
    Staffing,
    Workload,
    erlang_a_metrics,
    erlang_c_metrics,
    staff_erlang_a,
    staff_erlang_c,
)
from santral.errors import SantralError, SourceError

# Rows printed below and above the required staffing in ``santral erlang``.
_ROWS_BELOW = 3
_ROWS_ABOVE = 3


@click.command()
@click.argument("scenario_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-n",
    "--replications",
    type=click.IntRange(1, 10_000),
    default=None,
    help="Number of replications [default: the scenario's].",
)
@click.option("--seed", type=int, default=None, help="Random seed [default: the scenario's].")
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, 256),
    default=1,
    show_default=True,
    help="Worker processes that run replications in parallel.",
)
@click.option(
    "-o",
    "--output",
    "output_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the CSV, JSON and PNG [default: the scenario's].",
)
@click.option(
    "--chart/--no-chart",
    default=True,
    show_default=True,
    help="Draw the PNG chart of service level, ASA and occupancy.",
)
@click.option(
    "--progress/--no-progress",
    default=True,
    show_default=True,
    help="Show a progress bar on the terminal.",
)
@click.option(
    "--queue",
    default="*",
    show_default=True,
    help="Queue whose intervals the table shows; * sums all queues.",
)
def simulate(
    scenario_path: Path,
    replications: int | None,
    seed: int | None,
    jobs: int,
    output_dir: Path | None,
    chart: bool,
    progress: bool,
    queue: str,
) -> None:
    """Run SCENARIO_PATH through the real router in virtual time and report interval KPIs."""
    from acd.sim_kpi import ALL_QUEUES
    from acd.sim_output import draw_chart, kpi_table, write_csv, write_json
    from acd.sim_scenario import load_scenario
    from acd.simulator import run_scenario

    console = Console()
    try:
        scenario = load_scenario(scenario_path)
    except SourceError as error:
        raise click.ClickException(f"invalid scenario:\n{error}") from None
    if queue != ALL_QUEUES and queue not in scenario.acd.queues:
        known = ", ".join(sorted(scenario.acd.queues))
        raise click.BadParameter(
            f"unknown queue {queue!r}; use * or one of: {known}", param_hint="--queue"
        )
    count = replications or scenario.replications
    try:
        with _quiet_router_logs(), _progress_bar(console, count, progress) as advance:
            result = run_scenario(
                scenario, replications=count, seed=seed, jobs=jobs, on_replication=advance
            )
    except SantralError as error:
        raise click.ClickException(str(error)) from None

    title = f"{scenario.name}: {count} replication(s), seed {result.seed}"
    console.print(kpi_table(result.rows, title, queue))
    folder = output_dir or scenario_path.parent
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / scenario_path.stem
    written = [stem.with_suffix(".kpi.csv"), stem.with_suffix(".kpi.json")]
    write_csv(result.rows, written[0])
    write_json(result.rows, result.meta(), written[1])
    if chart:
        written.append(stem.with_suffix(".kpi.png"))
        draw_chart(result.rows, written[2], title, result.service_level_target)
    for path in written:
        console.print(f"wrote {path}")


@contextmanager
def _quiet_router_logs() -> Iterator[None]:
    # The router logs every agent status change at INFO, thousands of lines in a simulated
    # day. The run therefore shows warnings and errors only, then restores the old setup.
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    try:
        yield
    finally:
        structlog.configure(**saved)


@contextmanager
def _progress_bar(console: Console, total: int, enabled: bool) -> Iterator[Callable[[int], None]]:
    """Yield a function that shows how many replications are done, on a rich bar if enabled."""
    if not enabled:
        yield lambda done: None
        return
    columns = (TextColumn("replications"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("simulate", total=total)
        yield lambda done: progress.update(task, completed=done)


@click.command()
@click.option(
    "--calls", type=click.FloatRange(min=0), required=True, help="Calls offered per interval."
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Interval length in minutes.",
)
@click.option(
    "--aht",
    type=click.FloatRange(min=0, min_open=True),
    required=True,
    help="Average handle time in seconds (talk, hold and wrap-up).",
)
@click.option(
    "--threshold",
    type=click.FloatRange(min=0),
    default=20.0,
    show_default=True,
    help="Service-level threshold in seconds.",
)
@click.option(
    "--target",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.8,
    show_default=True,
    help="Service-level target, from 0 to 1.",
)
@click.option(
    "--shrinkage",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.0,
    show_default=True,
    help="Share of paid time off the phones, from 0 to 1.",
)
@click.option(
    "--patience",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Mean caller patience in seconds; switches to Erlang A (abandonment).",
)
@click.option(
    "--agents",
    type=click.IntRange(min=1),
    default=None,
    help="Show the figures for this many agents instead of searching.",
)
@click.option(
    "--max-occupancy",
    type=click.FloatRange(0, 1),
    default=None,
    help="Erlang C only: the highest acceptable occupancy, from 0 to 1.",
)
@click.option(
    "--max-asa",
    type=click.FloatRange(min=0),
    default=None,
    help="The highest acceptable ASA in seconds.",
)
@click.option(
    "--max-abandon",
    type=click.FloatRange(0, 1),
    default=None,
    help="Erlang A only: the highest acceptable abandon rate, from 0 to 1.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def erlang(
    calls: float,
    interval: float,
    aht: float,
    threshold: float,
    target: float,
    shrinkage: float,
    patience: float | None,
    agents: int | None,
    max_occupancy: float | None,
    max_asa: float | None,
    max_abandon: float | None,
    as_json: bool,
) -> None:
    """Compute Erlang C (or, with --patience, Erlang A) staffing for one interval."""
    if patience is None and max_abandon is not None:
        raise click.UsageError("--max-abandon needs --patience (Erlang A)")
    if patience is not None and max_occupancy is not None:
        raise click.UsageError("--max-occupancy applies to Erlang C only; remove it or --patience")
    try:
        workload = Workload(calls, interval * 60.0, aht)
        staffing = _staffing(
            workload, threshold, target, shrinkage, patience, max_occupancy, max_asa, max_abandon
        )
        if agents is not None and patience is None:
            erlang_c_metrics(workload, agents, threshold)  # raises when agents <= traffic
        rows = _neighbour_rows(workload, threshold, patience, agents or staffing.agents)
    except ErlangError as error:
        raise click.ClickException(str(error)) from None

    if as_json:
        click.echo(json.dumps(_json_document(workload, staffing, rows), indent=2))
        return
    console = Console()
    console.print(_erlang_table(workload, rows, staffing.agents, patience))
    console.print(
        f"required agents: {staffing.agents}; scheduled with {shrinkage:.0%} shrinkage: "
        f"{staffing.scheduled}"
    )


def _staffing(
    workload: Workload,
    threshold: float,
    target: float,
    shrinkage: float,
    patience: float | None,
    max_occupancy: float | None,
    max_asa: float | None,
    max_abandon: float | None,
) -> Staffing:
    if patience is None:
        return staff_erlang_c(
            workload,
            threshold,
            target,
            shrinkage=shrinkage,
            max_asa=max_asa,
            max_occupancy=max_occupancy,
        )
    return staff_erlang_a(
        workload,
        threshold,
        target,
        patience,
        shrinkage=shrinkage,
        max_abandon=max_abandon,
        max_asa=max_asa,
    )


def _neighbour_rows(
    workload: Workload, threshold: float, patience: float | None, around: int
) -> list[ErlangCResult | ErlangAResult]:
    rows: list[ErlangCResult | ErlangAResult] = []
    for agents in range(max(1, around - _ROWS_BELOW), around + _ROWS_ABOVE + 1):
        if patience is not None:
            rows.append(erlang_a_metrics(workload, agents, threshold, patience))
        elif agents > workload.traffic:
            rows.append(erlang_c_metrics(workload, agents, threshold))
    return rows


def _erlang_table(
    workload: Workload,
    rows: list[ErlangCResult | ErlangAResult],
    required: int,
    patience: float | None,
) -> Table:
    model = "Erlang C" if patience is None else f"Erlang A, mean patience {patience:g} s"
    table = Table(title=f"{model}: {workload.traffic:.2f} Erlangs")
    headers = ["agents", "P(wait)", "service level", "ASA s", "occupancy"]
    if patience is not None:
        headers.append("abandon")
    for header in headers:
        table.add_column(header, justify="right")
    for row in rows:
        marker = " *" if row.agents == required else ""
        cells = [
            f"{row.agents}{marker}",
            f"{row.p_wait:.4f}",
            f"{row.service_level:.2%}",
            f"{row.asa:.2f}",
            f"{row.occupancy:.1%}",
        ]
        if isinstance(row, ErlangAResult):
            cells.append(f"{row.p_abandon:.2%}")
        table.add_row(*cells)
    return table


def _json_document(
    workload: Workload, staffing: Staffing, rows: list[ErlangCResult | ErlangAResult]
) -> dict[str, object]:
    return {
        "traffic": workload.traffic,
        "required_agents": staffing.agents,
        "scheduled_agents": staffing.scheduled,
        "shrinkage": staffing.shrinkage,
        "rows": [_finite(asdict(row)) for row in rows],
    }


def _finite(values: dict[str, float]) -> dict[str, float | None]:
    return {key: None if math.isinf(value) else value for key, value in values.items()}


commands: list[click.Command] = [simulate, erlang]
