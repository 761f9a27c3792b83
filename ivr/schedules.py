"""Weekly business hours with holidays, evaluated in a time zone."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def parse_range(text: str) -> tuple[dt.time, dt.time | None]:
    """Parse ``"09:00-18:00"``; ``24:00`` as the end means midnight (returned as None).

    Raise ``ValueError`` if the form is wrong, a time is out of range, or the range is
    empty. A range may not cross midnight: split it over two days instead.
    """
    match = _RANGE.match(text)
    if match is None:
        raise ValueError(f"invalid opening hours {text!r}; write 'HH:MM-HH:MM', e.g. '09:00-18:00'")
    start_hour, start_minute, end_hour, end_minute = (int(part) for part in match.groups())
    if start_hour > 23 or start_minute > 59 or end_minute > 59 or end_hour > 24:
        raise ValueError(f"invalid time in opening hours {text!r}; hours run 00-24, minutes 00-59")
    if end_hour == 24 and end_minute != 0:
        raise ValueError(f"invalid opening hours {text!r}; the latest end is 24:00")

    start = dt.time(start_hour, start_minute)
    end = None if end_hour == 24 else dt.time(end_hour, end_minute)
    if end is not None and end <= start:
        raise ValueError(
            f"opening hours {text!r} end before they start; a range may not cross midnight, "
            "so split it over two days"
        )
    return start, end


def local_time(timestamp: float, time_zone: str) -> dt.datetime:
    """Return the POSIX ``timestamp`` as an aware datetime in ``time_zone``."""
    return dt.datetime.fromtimestamp(timestamp, tz=ZoneInfo(time_zone))


def is_holiday(moment: dt.datetime, holidays: list[dt.date]) -> bool:
    return moment.date() in holidays


def is_open(moment: dt.datetime, hours: dict[str, list[str]]) -> bool:
    """True when the local ``moment`` falls in one of its weekday's opening ranges."""
    day = DAYS[moment.weekday()]
    clock_time = moment.time().replace(tzinfo=None)
    for text in hours.get(day, []):
        start, end = parse_range(text)
        if start <= clock_time and (end is None or clock_time < end):
            return True
    return False
