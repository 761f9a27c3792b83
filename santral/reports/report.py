"""Reports: KPIs of the interactions enqueued in a period, grouped by queue, agent,
interval or channel.

An interaction belongs to the period and interval in which it was enqueued. Intervals
are aligned to the local clock of ``store.report_timezone``, so a ``day`` is a local day.
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from santral.errors import SantralError
from santral.reports.kpis import Facts, KpiParameters, Kpis, compute_kpis, find_repeat_contacts
from santral.reports.occupancy import Segment, build_segments, occupancy
from santral.store.database import Database
from santral.store.settings import StoreSettings

if TYPE_CHECKING:
    from santral.store import Store

GROUPINGS: tuple[str, ...] = ("queue", "agent", "interval", "channel")
INTERVALS: tuple[int, ...] = (15, 30, 60, 1440)
MAX_INTERVALS = 20_000
# How far before a report's start the agents' last status and state are looked up.
STATE_LOOKBACK_SECONDS = 7 * 86400


class ReportError(SantralError):
    """A report was requested with invalid parameters."""


@dataclass(frozen=True)
class ReportRow:
    key: str
    kpis: Kpis
    interval_start: float | None = None

    def to_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {"key": self.key}
        if self.interval_start is not None:
            row["interval_start"] = self.interval_start
        return {**row, **self.kpis.to_dict()}


@dataclass(frozen=True)
class Report:
    start: float
    end: float
    by: str
    interval_minutes: int
    timezone: str
    parameters: KpiParameters
    rows: list[ReportRow] = field(default_factory=list)
    total: ReportRow = field(default_factory=lambda: ReportRow("total", Kpis()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "by": self.by,
            "interval_minutes": self.interval_minutes,
            "timezone": self.timezone,
            "service_level_seconds": self.parameters.service_level_seconds,
            "short_abandon_seconds": self.parameters.short_abandon_seconds,
            "fcr_window_seconds": self.parameters.fcr_window_seconds,
            "rows": [row.to_dict() for row in self.rows],
            "total": self.total.to_dict(),
        }


async def compute_report(
    store: Store, start: float, end: float, by: str = "queue", interval_minutes: int = 60
) -> Report:
    """Compute the report for [start, end) in the store's worker thread.

    Raises ``ReportError`` for an unknown grouping or interval, or an empty period.
    The report runs on the store's reader connection, so writes go on meanwhile. It sees
    the committed records: events still buffered (under a second) are not counted.
    """
    check_request(start, end, by, interval_minutes)
    settings = store.settings
    return await store.read(
        lambda database: build_report(database, settings, start, end, by, interval_minutes)
    )


def check_request(start: float, end: float, by: str, interval_minutes: int) -> None:
    """Raise ``ReportError`` unless the report parameters are usable."""
    if by not in GROUPINGS:
        raise ReportError(f"invalid grouping {by!r}; expected one of {', '.join(GROUPINGS)}")
    if interval_minutes not in INTERVALS:
        raise ReportError(
            f"invalid interval {interval_minutes} minutes; expected 15, 30, 60 or 1440 (a day)"
        )
    if end <= start:
        raise ReportError(f"the report period is empty: end {end} is not after start {start}")
    if (end - start) / (interval_minutes * 60) > MAX_INTERVALS:
        raise ReportError(f"the period has more than {MAX_INTERVALS} intervals; use a longer one")


def build_report(
    database: Database, settings: StoreSettings, start: float, end: float, by: str,
    interval_minutes: int,
) -> Report:
    """Query the records of [start, end) and compute the report (blocking)."""
    parameters = KpiParameters(
        settings.service_level_seconds, settings.short_abandon_seconds,
        settings.fcr_window_days * 86400,
    )
    zone = ZoneInfo(settings.report_timezone)
    facts = [Facts.from_row(row) for row in _query_records(database, start, end)]
    repeated = find_repeat_contacts(
        facts, _query_contacts(database, start, end + parameters.fcr_window_seconds),
        parameters.fcr_window_seconds,
    )
    scores = _query_scores(database, start, end)
    segments = _query_segments(database, start, end)
    responses = _query_first_responses(database, start, end)

    context = _GroupContext(parameters, repeated, scores, segments, responses)
    rows = _group_rows(facts, context, by, start, end, interval_minutes, zone)
    total = ReportRow("total", context.kpis(facts, occupancy(segments, start, end)))
    return Report(start, end, by, interval_minutes, settings.report_timezone, parameters,
                  rows, total)


@dataclass(frozen=True)
class _GroupContext:
    parameters: KpiParameters
    repeated: frozenset[str]
    scores: dict[str, list[int]]
    segments: list[Segment]
    first_replies: dict[str, float]

    def kpis(self, facts: Sequence[Facts], occupancy_value: float | None) -> Kpis:
        group_scores = [score for fact in facts for score in self.scores.get(fact.id, [])]
        kpis = compute_kpis(facts, self.parameters, repeated=self.repeated,
                            survey_scores=group_scores, occupancy=occupancy_value)
        waits = [
            self.first_replies[fact.id] - fact.enqueued_at
            for fact in facts
            if fact.id in self.first_replies
        ]
        if not waits:
            return kpis
        return dataclasses.replace(kpis, first_response=sum(waits) / len(waits))


def _group_rows(
    facts: list[Facts], context: _GroupContext, by: str, start: float, end: float,
    interval_minutes: int, zone: ZoneInfo,
) -> list[ReportRow]:
    if by == "interval":
        return _interval_rows(facts, context, start, end, interval_minutes, zone)
    key_of: Callable[[Facts], str] = {
        "queue": lambda fact: fact.queue,
        "agent": lambda fact: fact.agent_id,
        "channel": lambda fact: fact.channel,
    }[by]
    groups: dict[str, list[Facts]] = defaultdict(list)
    for fact in facts:
        groups[key_of(fact)].append(fact)
    rows = []
    for key in sorted(groups):
        agent_occupancy = None
        if by == "agent" and key:
            own = [segment for segment in context.segments if segment.agent_id == key]
            agent_occupancy = occupancy(own, start, end)
        rows.append(ReportRow(key, context.kpis(groups[key], agent_occupancy)))
    return rows


def _interval_rows(
    facts: list[Facts], context: _GroupContext, start: float, end: float,
    interval_minutes: int, zone: ZoneInfo,
) -> list[ReportRow]:
    bounds = interval_bounds(start, end, interval_minutes, zone)
    groups: dict[float, list[Facts]] = defaultdict(list)
    for fact in facts:
        groups[interval_start(fact.enqueued_at, interval_minutes, zone)].append(fact)
    rows = []
    for begin, finish in bounds:
        label = datetime.fromtimestamp(begin, zone).isoformat(timespec="minutes")
        value = occupancy(context.segments, max(begin, start), min(finish, end))
        rows.append(ReportRow(label, context.kpis(groups.get(begin, []), value), begin))
    return rows


def interval_start(ts: float, interval_minutes: int, zone: ZoneInfo) -> float:
    """Return the start of the local interval that contains ``ts``."""
    local = datetime.fromtimestamp(ts, zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if interval_minutes >= 1440:
        return midnight.timestamp()
    minutes = local.hour * 60 + local.minute
    floored = minutes - minutes % interval_minutes
    return local.replace(hour=floored // 60, minute=floored % 60, second=0,
                         microsecond=0).timestamp()


def interval_bounds(
    start: float, end: float, interval_minutes: int, zone: ZoneInfo
) -> list[tuple[float, float]]:
    """Return the (begin, end) of every local interval that overlaps [start, end)."""
    bounds = []
    begin = interval_start(start, interval_minutes, zone)
    for _ in range(MAX_INTERVALS + 2):
        if begin >= end:
            break
        finish = _next_interval(begin, interval_minutes, zone)
        bounds.append((begin, finish))
        begin = finish
    return bounds


def _next_interval(begin: float, interval_minutes: int, zone: ZoneInfo) -> float:
    if interval_minutes < 1440:
        return begin + interval_minutes * 60
    local = datetime.fromtimestamp(begin, zone)
    next_day = (local + timedelta(days=1, hours=3)).date()
    return datetime(next_day.year, next_day.month, next_day.day, tzinfo=zone).timestamp()


def _query_records(database: Database, start: float, end: float) -> list[dict[str, Any]]:
    return database.query(
        "SELECT id, call_id, channel, caller, queue, agent_id, enqueued_at, answered_at,"
        " ended_at, talk_seconds, hold_seconds, wrapup_seconds, outcome, transferred"
        " FROM interactions WHERE enqueued_at >= ? AND enqueued_at < ? ORDER BY enqueued_at",
        (start, end),
    )


def _query_contacts(database: Database, start: float, end: float) -> list[tuple[str, str, float]]:
    rows = database.query(
        "SELECT caller, call_id, id, arrived_at FROM interactions"
        " WHERE arrived_at > ? AND arrived_at <= ? AND caller <> ''",
        (start, end),
    )
    return [(row["caller"], str(row["call_id"] or row["id"]), row["arrived_at"]) for row in rows]


def _query_scores(database: Database, start: float, end: float) -> dict[str, list[int]]:
    rows = database.query(
        "SELECT s.record_id, s.score FROM survey_answers s JOIN interactions i"
        " ON i.id = s.record_id WHERE i.enqueued_at >= ? AND i.enqueued_at < ?",
        (start, end),
    )
    scores: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        scores[row["record_id"]].append(int(row["score"]))
    return scores


def _query_first_responses(database: Database, start: float, end: float) -> dict[str, float]:
    """Return when each written interaction got its first agent reply, by record id."""
    rows = database.query(
        "SELECT e.record_key, e.ts, e.body FROM events e JOIN interactions i"
        " ON i.id = e.record_key OR i.interaction_id = e.record_key"
        " WHERE e.type = 'interaction_message' AND i.enqueued_at >= ? AND i.enqueued_at < ?"
        " ORDER BY e.ts",
        (start, end),
    )
    first: dict[str, float] = {}
    for row in rows:
        if json.loads(row["body"]).get("direction") == "out":
            first.setdefault(str(row["record_key"]), float(row["ts"]))
    return first


def _query_segments(database: Database, start: float, end: float) -> list[Segment]:
    # NOTE: an agent whose status or state has not changed for STATE_LOOKBACK_SECONDS
    # before ``start`` counts as logged out until its next change.
    latest = database.query(
        "SELECT c.agent_id, c.kind, c.new FROM agent_changes c JOIN ("
        " SELECT agent_id, kind, MAX(id) AS id FROM agent_changes WHERE ts < ? AND ts >= ?"
        " GROUP BY agent_id, kind) l ON c.id = l.id",
        (start, start - STATE_LOOKBACK_SECONDS),
    )
    initial: dict[str, dict[str, str]] = defaultdict(dict)
    for row in latest:
        initial[row["agent_id"]][row["kind"]] = row["new"]
    changes = database.query(
        "SELECT agent_id, ts, kind, new FROM agent_changes WHERE ts >= ? AND ts < ?"
        " ORDER BY ts, id",
        (start, end),
    )
    return build_segments(changes, initial, start, end)
