"""KPI definitions computed from interaction records; pure functions, no database.

Every formula is written out in ``docs/kpis.md``. Times are seconds; rates are fractions
between 0 and 1, or None when the denominator is zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any

ABANDONED = "abandoned_in_queue"
OVERFLOWED = "overflowed"
SATISFIED_SCORES = (4, 5)


@dataclass(frozen=True)
class KpiParameters:
    service_level_seconds: float = 20.0
    short_abandon_seconds: float = 5.0
    fcr_window_seconds: float = 7 * 86400.0


@dataclass(frozen=True)
class Facts:
    """The fields of one queued interaction record that the KPIs read."""

    id: str
    call_id: str
    channel: str
    caller: str
    queue: str
    agent_id: str
    enqueued_at: float
    answered_at: float | None
    ended_at: float | None
    talk_seconds: float | None
    hold_seconds: float
    wrapup_seconds: float | None
    outcome: str
    transferred: bool

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Facts:
        return cls(
            id=str(row["id"]), call_id=str(row["call_id"] or row["id"]),
            channel=row["channel"], caller=row["caller"], queue=row["queue"],
            agent_id=row["agent_id"], enqueued_at=float(row["enqueued_at"]),
            answered_at=row["answered_at"], ended_at=row["ended_at"],
            talk_seconds=row["talk_seconds"], hold_seconds=float(row["hold_seconds"] or 0),
            wrapup_seconds=row["wrapup_seconds"], outcome=row["outcome"],
            transferred=bool(row["transferred"]) or row["outcome"] == "transferred",
        )

    @property
    def wait(self) -> float | None:
        """Seconds from enqueue to answer, or to the end when not answered."""
        end = self.answered_at if self.answered_at is not None else self.ended_at
        return None if end is None else end - self.enqueued_at

    @property
    def handle_seconds(self) -> float | None:
        """Talk + hold + wrap-up, once the talk has ended."""
        if self.talk_seconds is None:
            return None
        return self.talk_seconds + self.hold_seconds + (self.wrapup_seconds or 0.0)


@dataclass(frozen=True)
class Kpis:
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    overflowed: int = 0
    transferred: int = 0
    answered_within_threshold: int = 0
    service_level: float | None = None
    service_level_late_abandons: float | None = None
    abandon_rate: float | None = None
    asa: float | None = None
    aht: float | None = None
    average_talk: float | None = None
    average_hold: float | None = None
    average_wrapup: float | None = None
    longest_wait: float | None = None
    transfer_rate: float | None = None
    fcr: float | None = None
    occupancy: float | None = None
    csat: float | None = None
    csat_mean: float | None = None
    survey_answers: int = 0
    first_response: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {item.name: getattr(self, item.name) for item in fields(self)}


def compute_kpis(
    facts: Sequence[Facts],
    parameters: KpiParameters,
    *,
    repeated: frozenset[str] = frozenset(),
    survey_scores: Iterable[int] = (),
    occupancy: float | None = None,
) -> Kpis:
    """Compute the KPIs of one group of records.

    ``repeated`` contains the ids of records followed by another contact from the same
    caller within the FCR window; ``survey_scores`` are the 1–5 answers of the group.
    """
    answered = [fact for fact in facts if fact.answered_at is not None]
    abandoned_all = [
        fact for fact in facts if fact.outcome == ABANDONED and fact.answered_at is None
    ]
    short_limit = parameters.short_abandon_seconds
    short = [fact for fact in abandoned_all if (fact.wait or 0.0) <= short_limit]
    abandoned = [fact for fact in abandoned_all if (fact.wait or 0.0) > short_limit]
    threshold = parameters.service_level_seconds
    within = [fact for fact in answered if (fact.wait or 0.0) <= threshold]
    late_abandoned = [fact for fact in abandoned if (fact.wait or 0.0) > threshold]
    handled = [fact for fact in answered if fact.talk_seconds is not None]
    transferred = [fact for fact in answered if fact.transferred]
    waits = [fact.wait for fact in facts if fact.wait is not None]
    scores = [score for score in survey_scores if 1 <= score <= 5]

    return Kpis(
        offered=len(facts),
        answered=len(answered),
        abandoned=len(abandoned),
        short_abandoned=len(short),
        overflowed=sum(1 for fact in facts if fact.outcome == OVERFLOWED),
        transferred=len(transferred),
        answered_within_threshold=len(within),
        service_level=_ratio(len(within), len(answered) + len(abandoned)),
        service_level_late_abandons=_ratio(len(within), len(answered) + len(late_abandoned)),
        abandon_rate=_ratio(len(abandoned), len(facts) - len(short)),
        asa=_mean(fact.wait for fact in answered),
        aht=_mean(fact.handle_seconds for fact in handled),
        average_talk=_mean(fact.talk_seconds for fact in handled),
        average_hold=_mean(fact.hold_seconds for fact in handled),
        average_wrapup=_mean(fact.wrapup_seconds or 0.0 for fact in handled),
        longest_wait=max(waits) if waits else None,
        transfer_rate=_ratio(len(transferred), len(answered)),
        fcr=_ratio(sum(1 for fact in answered if fact.id not in repeated), len(answered)),
        occupancy=occupancy,
        csat=_ratio(sum(1 for score in scores if score in SATISFIED_SCORES), len(scores)),
        csat_mean=_mean(float(score) for score in scores),
        survey_answers=len(scores),
    )


def find_repeat_contacts(
    facts: Iterable[Facts],
    contacts: Iterable[tuple[str, str, float]],
    window_seconds: float,
) -> frozenset[str]:
    """Return the ids of records followed by a new contact from the same caller.

    ``contacts`` are ``(caller, call_id, arrived_at)`` of every record on any channel; a
    contact of the same call (an overflow or transfer leg) is not a repeat. Callers are
    compared after ``normalize_caller``.
    """
    by_caller: dict[str, list[tuple[float, str]]] = {}
    for caller, call_id, arrived_at in contacts:
        key = normalize_caller(caller)
        if key:
            by_caller.setdefault(key, []).append((arrived_at, call_id))
    repeated = set()
    for fact in facts:
        later = by_caller.get(normalize_caller(fact.caller), [])
        if any(
            fact.enqueued_at < arrived <= fact.enqueued_at + window_seconds
            and call_id != fact.call_id
            for arrived, call_id in later
        ):
            repeated.add(fact.id)
    return frozenset(repeated)


def normalize_caller(caller: str) -> str:
    """Return ``caller`` lower-cased without spaces, dashes and brackets; '' for anonymous."""
    key = "".join(ch for ch in caller.lower() if ch not in " -()./")
    return "" if key in ("", "anonymous", "unknown", "restricted") else key


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole > 0 else None


def _mean(values: Iterable[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return sum(present) / len(present) if present else None
