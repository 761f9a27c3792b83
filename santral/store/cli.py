"""``santral report`` and ``santral erase``: reports and erasure from the command line."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from santral.errors import SantralError, SourceError

DEFAULT_CONFIG = "config.yaml"
INTERVAL_CHOICES = {"15": 15, "30": 30, "60": 60, "day": 1440}

config_option = click.option(
    "-c", "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_CONFIG, show_default=True,
    help="Configuration file whose store: section names the database.",
)


@click.command()
@click.option("--from", "start_text", help="Start, ISO date or date-time in the report time"
              " zone (inclusive). Default: today 00:00.")
@click.option("--to", "end_text", help="End, ISO date or date-time (exclusive). Default: the"
              " start plus one day.")
@click.option("--by", type=click.Choice(["queue", "agent", "interval", "channel"]),
              default="queue", show_default=True, help="What each row groups.")
@click.option("--format", "output_format", type=click.Choice(["table", "csv", "json"]),
              default="table", show_default=True, help="Output format.")
@click.option("--interval", type=click.Choice(list(INTERVAL_CHOICES)), default="60",
              show_default=True, help="Interval length in minutes (or a day) for --by interval.")
@click.option("--chart", type=click.Path(dir_okay=False, path_type=Path),
              help="Also draw service level, volume and ASA per row into this PNG file.")
@config_option
def report(
    start_text: str | None, end_text: str | None, by: str, output_format: str, interval: str,
    chart: Path | None, config_path: Path,
) -> None:
    """Print contact-centre KPIs for a period from the store."""
    from santral.reports import render_chart, render_csv, render_json, render_table

    config = _load(config_path)
    zone = ZoneInfo(config.store.report_timezone)
    start = _parse_time(start_text, zone) if start_text else _today(zone)
    end = _parse_time(end_text, zone) if end_text else start + 86400
    result = _run(_compute(config, start, end, by, INTERVAL_CHOICES[interval]))
    renderer = {"table": render_table, "csv": render_csv, "json": render_json}[output_format]
    click.echo(renderer(result), nl=False)
    if chart is not None:
        render_chart(result, chart)
        click.echo(f"chart written to {chart}", err=True)


@click.command()
@click.option("--caller", required=True, help="Phone number or address, exactly as stored.")
@config_option
def erase(caller: str, config_path: Path) -> None:
    """Remove or anonymise every record about one caller and print what was touched."""
    from santral.store.privacy import erase_caller

    config = _load(config_path)

    async def erase_in_store() -> dict[str, Any]:
        store = await _open(config)
        try:
            return (await erase_caller(store, caller)).to_dict()
        finally:
            await store.close()

    click.echo(json.dumps(_run(erase_in_store()), indent=2))


commands: list[click.Command] = [report, erase]


async def _compute(config: Any, start: float, end: float, by: str, minutes: int) -> Any:
    from santral.reports import compute_report

    store = await _open(config)
    try:
        return await compute_report(store, start, end, by=by, interval_minutes=minutes)
    finally:
        await store.close()


async def _open(config: Any) -> Any:
    from santral.store import open_store

    return await open_store(config.store, base_dir=config.base_dir)


def _load(config_path: Path) -> Any:
    from santral.config import load_config
    from santral.logging import configure_logging

    try:
        config = load_config(config_path if config_path.exists() else None)
    except SourceError as error:
        raise click.ClickException(f"invalid configuration:\n{error}") from None
    configure_logging(config.log.level, config.log.format)
    return config


def _run(coroutine: Any) -> Any:
    try:
        return asyncio.run(coroutine)
    except (SantralError, ValueError) as error:
        raise click.ClickException(str(error)) from None


def _parse_time(text: str, zone: ZoneInfo) -> float:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not an ISO date or date-time such as 2024-05-01 or 2024-05-01T08:30"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.timestamp()


def _today(zone: ZoneInfo) -> float:
    now = datetime.now(zone)
    return now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
