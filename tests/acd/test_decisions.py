"""Decisions are plain values: equal and hashable by value, with dataclass fields."""

from __future__ import annotations

import dataclasses

from acd.decisions import AgentStateChanged, InteractionEnded, Offer


def test_decisions_equal_by_value() -> None:
    first = Offer("o1", "i1", "a1", "q", "voice", 20.0)
    again = Offer("o1", "i1", "a1", "q", "voice", 20.0)
    other = Offer("o2", "i1", "a1", "q", "voice", 20.0)

    assert first == again
    assert first != other
    assert hash(first) == hash(again)
    assert {first, again, other} == {first, other}


def test_decision_fields_match_event_names() -> None:
    names = [field.name for field in dataclasses.fields(InteractionEnded)]

    assert names == [
        "interaction_id",
        "outcome",
        "queue",
        "channel",
        "waited",
        "agent_id",
        "overflow_target",
    ]


def test_decision_kinds_differ() -> None:
    changed = AgentStateChanged("a1", "idle", "reserved")

    assert isinstance(changed, AgentStateChanged)
    assert not isinstance(changed, Offer)
    assert changed != ("a1", "idle", "reserved")
