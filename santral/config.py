"""The engine configuration: ``config.yaml`` validated by pydantic, with ``SANTRAL_…`` overrides.

Every setting has a default that runs with no external service. Any setting can be
overridden by an environment variable named after its path in upper case, with ``__``
between levels: ``SANTRAL_HTTP__PORT=8081`` sets ``http.port``. Variables whose first part
is not a section name are left alone. The value is read as a
YAML scalar or flow collection, so ``8081``, ``true`` and ``[en, tr]`` keep their types.
``SANTRAL_PUBLIC_URL`` sets ``public_url``. Secrets never appear in the file: settings
named ``*_env`` hold the name of the environment variable that carries the secret.

Errors name the file, line and column of the bad value (or the environment variable that
set it) and state what was expected.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from acd.settings import AcdSettings
from cti.channel_settings import ChatSettings, EmailSettings
from cti.settings import CtiSettings
from ivr.settings import IvrSettings
from santral.errors import ConfigError, Problem, SourcePosition
from santral.store.settings import StoreSettings
from santral.telephony.asterisk.settings import AsteriskSettings
from santral.telephony.sip.settings import SipSettings
from santral.telephony.twilio.settings import TwilioSettings

ENV_PREFIX = "SANTRAL_"
ENV_SEPARATOR = "__"

Location = tuple[str | int, ...]


class HttpSettings(BaseModel):
    """The engine's HTTP listener: webhooks, CTI, reports, metrics, health."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)


class LogSettings(BaseModel):
    """Logging: ``auto`` prints for people on a terminal and JSON lines otherwise."""

    model_config = ConfigDict(extra="forbid")

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "console", "json"] = "auto"


class Config(BaseModel):
    """The whole engine configuration."""

    model_config = ConfigDict(extra="forbid")

    http: HttpSettings = Field(default_factory=HttpSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    public_url: str | None = None
    # uvloop runs the same asyncio code with a faster event loop; "asyncio" is the fallback
    # where uvloop is not installed (it does not build on Windows).
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"
    ivr: IvrSettings = Field(default_factory=IvrSettings)
    acd: AcdSettings = Field(default_factory=AcdSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    cti: CtiSettings = Field(default_factory=CtiSettings)
    chat: ChatSettings = Field(default_factory=ChatSettings)
    email: EmailSettings = Field(default_factory=EmailSettings)
    twilio: TwilioSettings = Field(default_factory=TwilioSettings)
    asterisk: AsteriskSettings = Field(default_factory=AsteriskSettings)
    sip: SipSettings = Field(default_factory=SipSettings)

    # Set by ``load_config``: relative paths in the file are relative to its folder.
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True)
    source: str = Field(default="<defaults>", exclude=True)

    def resolve_path(self, path: str | Path) -> Path:
        """Return ``path`` made absolute against the configuration file's folder."""
        candidate = Path(path)
        return candidate if candidate.is_absolute() else self.base_dir / candidate


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read, override from the environment, and validate a configuration file.

    With ``path`` None the defaults apply (still overridden by the environment).
    Raises ``ConfigError`` listing every problem with its position.
    """
    environ = os.environ if environ is None else environ
    source = "<defaults>" if path is None else str(path)
    data, positions = _read_yaml(Path(path)) if path is not None else ({}, {})
    env_sources = _apply_environment(data, environ)
    base_dir = Path(path).resolve().parent if path is not None else Path.cwd()
    try:
        config = Config.model_validate(data)
    except pydantic.ValidationError as error:
        problems = [_problem(item, source, positions, env_sources) for item in error.errors()]
        raise ConfigError(problems) from None
    return config.model_copy(update={"base_dir": base_dir, "source": source})


def _read_yaml(path: Path) -> tuple[dict[str, Any], dict[Location, tuple[int, int]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        message = f"cannot read the configuration file: {error.strerror}"
        raise ConfigError([Problem(SourcePosition(str(path)), message)]) from None
    try:
        document = YAML(typ="rt").load(io.StringIO(text))
    except MarkedYAMLError as error:
        mark = error.problem_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        message = f"invalid YAML: {error.problem}"
        raise ConfigError([Problem(SourcePosition(str(path), line, column), message)]) from None
    if document is None:
        return {}, {}
    if not isinstance(document, CommentedMap):
        position = SourcePosition(str(path), 1, 1)
        raise ConfigError([Problem(position, "expected a mapping of settings at the top level")])
    positions: dict[Location, tuple[int, int]] = {}
    return _plain(document, (), positions), positions


def _plain(node: Any, location: Location, positions: dict[Location, tuple[int, int]]) -> Any:
    """Convert ruamel nodes to plain values, recording each key's line and column."""
    if isinstance(node, CommentedMap):
        result: dict[str, Any] = {}
        for key, value in node.items():
            line, column = node.lc.key(key)
            positions[(*location, str(key))] = (line + 1, column + 1)
            result[str(key)] = _plain(value, (*location, str(key)), positions)
        return result
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            line, column = node.lc.item(index)
            positions[(*location, index)] = (line + 1, column + 1)
            items.append(_plain(value, (*location, index), positions))
        return items
    return node


def _apply_environment(data: dict[str, Any], environ: Mapping[str, str]) -> dict[Location, str]:
    """Write ``SANTRAL_…`` variables into ``data``; return which variable set which path."""
    sources: dict[Location, str] = {}
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX):
            continue
        location: Location = tuple(
            part.lower() for part in name[len(ENV_PREFIX) :].split(ENV_SEPARATOR)
        )
        # Variables outside the known sections (secrets named by ``*_env`` settings, for
        # example) are not settings.
        if not all(location) or location[0] not in Config.model_fields:
            continue
        _set_path(data, location, _parse_scalar(environ[name]))
        sources[location] = name
    return sources


def _set_path(data: dict[str, Any], location: Location, value: Any) -> None:
    target = data
    for part in location[:-1]:
        child = target.get(str(part))
        if not isinstance(child, dict):
            child = {}
            target[str(part)] = child
        target = child
    target[str(location[-1])] = value


def _parse_scalar(text: str) -> Any:
    try:
        return YAML(typ="safe").load(text)
    except MarkedYAMLError:
        return text


def _problem(
    item: Any,
    source: str,
    positions: dict[Location, tuple[int, int]],
    env_sources: dict[Location, str],
) -> Problem:
    location: Location = tuple(item["loc"])
    dotted = ".".join(str(part) for part in location) or "(top level)"
    if item["type"] == "extra_forbidden":
        message = f"unknown setting '{dotted}': remove it or check its spelling"
    else:
        message = f"invalid value for '{dotted}': {item['msg']}"
    for length in range(len(location), 0, -1):
        prefix = location[:length]
        if prefix in env_sources:
            return Problem(SourcePosition(f"environment variable {env_sources[prefix]}"), message)
        if prefix in positions:
            line, column = positions[prefix]
            return Problem(SourcePosition(source, line, column), message)
    return Problem(SourcePosition(source), message)


def read_secret(env_name: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """Return the secret held by environment variable ``env_name``, or None if unset or empty."""
    if not env_name:
        return None
    value = (os.environ if environ is None else environ).get(env_name, "")
    return value or None
