"""Durations in dialplans: ``5``, ``2.5``, ``"500ms"``, ``"3s"``, ``"2m"`` (seconds)."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
DURATION_PATTERN = r"^\s*\d+(\.\d+)?\s*(ms|s|m|h)?\s*$"


def parse_duration(value: object) -> float:
    """Return ``value`` in seconds; raise ``ValueError`` naming the accepted forms."""
    if isinstance(value, bool):
        raise ValueError(_message(value))
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"invalid duration {value!r}: must not be negative")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(_message(value))

    match = _DURATION.match(value)
    if match is None:
        raise ValueError(_message(value))
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _message(value: object) -> str:
    return (
        f"invalid duration {value!r}; write seconds as a number (5, 2.5) "
        "or with a unit: '500ms', '3s', '2m', '1h'"
    )
