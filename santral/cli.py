"""The ``santral`` command: ``run`` starts the engine; the other commands are tools."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click
from click.core import ParameterSource

from santral import __version__
from santral.errors import SantralError, SourceError

DEFAULT_CONFIG = "config.yaml"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="santral")
def main() -> None:
    """santral: a telephony-first IVR and ACD engine."""


@main.command()
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_CONFIG,
    show_default=True,
    help="Configuration file; SANTRAL_… environment variables override its settings.",
)
def run(config_path: Path) -> None:
    """Start the engine and serve until SIGINT or SIGTERM (SIGHUP reloads dialplans)."""
    from santral.config import load_config
    from santral.engine import loop_factory, serve
    from santral.logging import configure_logging

    source = click.get_current_context().get_parameter_source("config_path")
    if not config_path.exists() and source is not ParameterSource.DEFAULT:
        raise click.ClickException(
            f"configuration file {config_path} not found; check the path given to -c"
        )
    try:
        config = load_config(config_path if config_path.exists() else None)
    except SourceError as error:
        raise click.ClickException(f"invalid configuration:\n{error}") from None
    if not config_path.exists():
        click.echo(f"{config_path} not found: running on the built-in defaults", err=True)
    configure_logging(config.log.level, config.log.format)
    try:
        with asyncio.Runner(loop_factory=loop_factory(config.event_loop)) as runner:
            runner.run(serve(config))
    except SantralError as error:
        raise click.ClickException(str(error)) from None
    except KeyboardInterrupt:
        sys.exit(130)


def _register_tool_commands() -> None:
    from acd.cli import commands as acd_commands
    from ivr.cli import commands as ivr_commands
    from santral.store.cli import commands as store_commands

    for command in (*ivr_commands, *acd_commands, *store_commands):
        main.add_command(command)


_register_tool_commands()
