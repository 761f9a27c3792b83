"""The one exception hierarchy of santral.

Errors carry the ids involved and a message that names the bad value and the fix.
Configuration and dialplan errors carry the source position (file, line, column).
"""

from __future__ import annotations

from dataclasses import dataclass


class SantralError(Exception):
    """Base class of every error santral raises on purpose."""


@dataclass(frozen=True)
class SourcePosition:
    """A place in a source file; line and column count from 1."""

    path: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.path
        if self.column <= 0:
            return f"{self.path}:{self.line}"
        return f"{self.path}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Problem:
    """One finding of a validation: an error or a warning at a source position."""

    position: SourcePosition
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        label = "" if self.severity == "error" else f"{self.severity}: "
        return f"{self.position}: {label}{self.message}"


class SourceError(SantralError):
    """A file that santral reads (config, dialplan, scenario) is invalid.

    ``problems`` lists every error found, each with its position, so one run shows them all.
    """

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


class ConfigError(SourceError):
    """The engine configuration is invalid."""


class DialplanError(SourceError):
    """A dialplan is invalid."""


class ConnectorError(SantralError):
    """A telephony connector failed to carry out an operation for a call."""

    def __init__(self, message: str, *, call_id: str | None = None) -> None:
        self.call_id = call_id
        super().__init__(message if call_id is None else f"{message} (call {call_id})")
