"""Engineer commands: ``check``, ``schema``, ``test``, ``call`` and ``prompts render``.

``santral.cli`` registers ``commands`` on the ``santral`` group.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import structlog

from ivr.actions import Action, CallInfo, Event, Gather
from ivr.dialplans import DialplanSet
from ivr.settings import IvrSettings
from santral.clock import VirtualClock
from santral.errors import Problem, SourceError, SourcePosition

CONFIG_OPTION = click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default="config.yaml",
    show_default=True,
    help="Configuration file; its ivr: section names the dialplans and recordings.",
)


def load_settings(config_path: Path) -> IvrSettings:
    """Return the ``ivr:`` settings with paths made absolute (defaults without the file)."""
    from santral.config import load_config

    try:
        config = load_config(config_path if config_path.exists() else None)
    except SourceError as error:
        raise click.ClickException(f"invalid configuration:\n{error}") from None
    return config.ivr.resolve_paths(config.base_dir)


def _connector_problems(config_path: Path) -> list[Problem]:
    """Return what keeps an enabled connector from playing every prompt (SIP needs files)."""
    from santral.config import load_config
    from santral.telephony.sip.prompts import check_media_settings

    if not config_path.exists():
        return []
    config = load_config(config_path)
    if not config.sip.enabled:
        return []
    music = config.sip.music_on_hold
    music_path = config.resolve_path(music) if music is not None else None
    position = SourcePosition(str(config_path))
    return [Problem(position, message) for message in check_media_settings(music_path)]


def quiet_logging(verbose: bool, level: int = logging.ERROR) -> None:
    """Send the interpreter's log to stderr: ``level`` and up, everything with ``verbose``."""
    level = logging.DEBUG if verbose else level
    wrapper: Any = structlog.make_filtering_bound_logger(level)
    structlog.configure(
        wrapper_class=wrapper,
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
    )


def _load(settings: IvrSettings, paths: tuple[Path, ...] = ()) -> DialplanSet:
    from ivr.loader import load_dialplans

    try:
        return load_dialplans(list(paths) or settings.dialplans, settings)
    except SourceError as error:
        _print_problems(error.problems)
        raise click.ClickException(f"{len(error.problems)} error(s) in the dialplans") from None


def _print_problems(problems: list[Problem]) -> None:
    for problem in problems:
        color = "red" if problem.severity == "error" else "yellow"
        click.secho(str(problem), fg=color, err=True)


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@CONFIG_OPTION
def check(paths: tuple[Path, ...], config_path: Path) -> None:
    """Validate dialplans (default: the ivr.dialplans folder); exit 1 on any error."""
    from ivr.loader import check as check_dialplans

    quiet_logging(False)
    settings = load_settings(config_path)
    dialplans, problems = check_dialplans(list(paths) or settings.dialplans, settings)
    problems = [*problems, *_connector_problems(config_path)]
    _print_problems(problems)
    errors = sum(1 for problem in problems if problem.severity == "error")
    warnings = len(problems) - errors
    if dialplans is None or errors:
        raise click.ClickException(f"{errors} error(s), {warnings} warning(s)")
    nodes = sum(len(plan.nodes) for plan in dialplans.dialplans.values())
    click.echo(
        f"ok: {len(dialplans.dialplans)} dialplans, {nodes} nodes, {warnings} warning(s), "
        f"version {dialplans.version}"
    )


@click.command()
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file."
)
def schema(output: Path | None) -> None:
    """Print the JSON Schema of the dialplan format (for yaml-language-server)."""
    from ivr.schema import dialplan_schema

    text = json.dumps(dialplan_schema(), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")


@click.command("test")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@CONFIG_OPTION
@click.option("-v", "--verbose", is_flag=True, help="Print every step of failing scenarios.")
def test_command(paths: tuple[Path, ...], config_path: Path, verbose: bool) -> None:
    """Run the scenario files (*.test.yaml) next to the dialplans; exit 1 on any failure."""
    from ivr.scenarios import run_file, scenario_files

    quiet_logging(False)
    settings = load_settings(config_path)
    files = scenario_files(list(paths) or [settings.dialplans])
    if not files:
        raise click.ClickException("no scenario files (*.test.yaml) found")

    failed = total = 0
    for file in files:
        dialplans = _load(settings, (file.parent,))
        try:
            results = run_file(file, dialplans)
        except SourceError as error:
            _print_problems(error.problems)
            raise click.ClickException(f"invalid scenario file {file}") from None
        for result in results:
            total += 1
            failed += 0 if result.passed else 1
            _report(result, verbose)
    click.echo(f"{total - failed} passed, {failed} failed")
    if failed:
        raise SystemExit(1)


def _report(result: Any, verbose: bool) -> None:
    from ivr.simulator import describe

    if result.passed:
        click.echo(f"{click.style('PASS', fg='green')} {result.name}")
        return
    click.echo(f"{click.style('FAIL', fg='red')} {result.name} ({result.position})")
    for failure in result.failures:
        click.echo(f"     {failure}")
    if verbose and result.transcript is not None:
        items = sorted(result.transcript.actions + result.transcript.events, key=lambda i: i[0])
        for at, item in items:
            click.echo(f"       {at:.1f} {describe(item)}")


@click.command()
@click.argument("number")
@CONFIG_OPTION
@click.option("--keys", help='Keys, one token per prompt: "1 2 12345#"; "-" presses nothing.')
@click.option("--at", "at", help="Time of the call, ISO 8601, e.g. 2026-12-07T10:00+03:00.")
@click.option("--language", default="", help="Language the call starts in (e.g. tr).")
@click.option("--caller", default="+905550000000", show_default=True, help="Calling number.")
@click.option("--entry", help="Start here instead of the number's entry: dialplan[.node].")
@click.option(
    "--http",
    "http_replies",
    multiple=True,
    metavar="PATTERN=JSON",
    help="Fake reply for data dips whose URL matches PATTERN (shell wildcards), e.g. "
    '\'*/customers/*={"customer": {"vip": true}}\'. Without one, dips fail offline.',
)
@click.option("--live", is_flag=True, help="Call the running engine through the virtual caller.")
@click.option("-v", "--verbose", is_flag=True, help="Also print the interpreter's debug log.")
def call(
    number: str,
    config_path: Path,
    keys: str | None,
    at: str | None,
    language: str,
    caller: str,
    entry: str | None,
    http_replies: tuple[str, ...],
    live: bool,
    verbose: bool,
) -> None:
    """Walk a call to NUMBER through the IVR in the terminal, printing prompts and path."""
    if live:
        _live_call(config_path, number, keys, language, entry)
        return

    from ivr.interpreter import EntryNotFoundError
    from ivr.simulator import Simulator, parse_keys, scripted_keys

    quiet_logging(verbose)
    dialplans = _load(load_settings(config_path))
    start = _start_time(at)
    clock = VirtualClock(start)
    source = scripted_keys(parse_keys(keys)) if keys is not None else _ask_keys
    replies = [_http_reply(text) for text in http_replies]
    simulator = Simulator(dialplans, clock, source, http=replies, on_step=_printer(start))
    info = CallInfo(call_id="terminal", caller=caller, called=number, language=language)
    try:
        transcript = simulator.run(info, entry)
    except EntryNotFoundError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"outcome: {transcript.outcome}")
    click.echo("path: " + " -> ".join(transcript.path))


def _live_call(
    config_path: Path, number: str, keys: str | None, language: str, entry: str | None
) -> None:
    import aiohttp

    from santral.telephony.virtual import run_live_call

    try:
        run_live_call(str(config_path), number, keys or "", language, entry=entry)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--keys") from None
    except (OSError, aiohttp.ClientError) as error:
        raise click.ClickException(
            f"no engine answered ({error}); start it with 'santral run' and check http.port"
        ) from None


def _http_reply(text: str) -> Any:
    from ivr.simulator import FakeHttpReply

    pattern, separator, body = text.partition("=")
    try:
        parsed = json.loads(body) if separator else None
    except json.JSONDecodeError as error:
        raise click.BadParameter(f"invalid JSON after '=' in {text!r}: {error}") from None
    if not separator:
        raise click.BadParameter(f"invalid reply {text!r}; write PATTERN=JSON")
    return FakeHttpReply(url=pattern, body=parsed)


def _start_time(at: str | None) -> float:
    if at is None:
        return dt.datetime.now(dt.UTC).timestamp()
    try:
        moment = dt.datetime.fromisoformat(at)
    except ValueError:
        raise click.BadParameter(f"invalid time {at!r}; use e.g. 2026-12-07T10:00+03:00") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


def _printer(start: float) -> Callable[[float, Action | Event], None]:
    from ivr.simulator import describe

    def show(at: float, item: Action | Event) -> None:
        if item.kind in ("prompt_finished",):
            return
        click.echo(f"{at - start:7.1f}s  {describe(item)}")

    return show


def _ask_keys(gather: Gather) -> Any:
    from ivr.simulator import KeyInput

    text = click.prompt(
        "  keys (Enter: press nothing, !: hang up)", default="", show_default=False
    ).strip()
    if text == "!":
        return KeyInput(hang_up=True)
    return KeyInput(text.replace(" ", ""))


@click.group()
def prompts() -> None:
    """Prompt recordings: render the dialplans' prompt texts with espeak-ng."""


@prompts.command()
@CONFIG_OPTION
@click.option("--missing-only", is_flag=True, help="Render only prompts without a WAV file.")
@click.option("--language", "languages", multiple=True, help="Only this language (repeatable).")
def render(config_path: Path, missing_only: bool, languages: tuple[str, ...]) -> None:
    """Render every declared prompt to recordings/<language>/<name>.wav (8 kHz mono 16-bit)."""
    from ivr.prompts import PromptError, render_all

    quiet_logging(False)
    settings = load_settings(config_path)
    dialplans = _load(settings)
    try:
        written = asyncio.run(
            render_all(dialplans, missing_only=missing_only, languages=list(languages) or None)
        )
    except PromptError as error:
        raise click.ClickException(str(error)) from None
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(f"{len(written)} prompt(s) rendered")


commands: list[click.Command] = [check, schema, test_command, call, prompts]
