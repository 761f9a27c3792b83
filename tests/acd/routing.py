"""Helpers for router tests: build a router from a config dict and pick decisions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from acd.decisions import Decision, Offer
from acd.router import Router
from acd.settings import AcdSettings
from santral.clock import VirtualClock

T = TypeVar("T")


def make_router(config: dict[str, Any], start: float = 1000.0) -> tuple[Router, VirtualClock]:
    """Return a router over ``config`` (the ``acd:`` section) and its virtual clock."""
    clock = VirtualClock(start)
    return Router(AcdSettings.model_validate(config), clock), clock


def login(router: Router, *agent_ids: str) -> list[Decision]:
    out: list[Decision] = []
    for agent_id in agent_ids:
        out.extend(router.set_agent_status(agent_id, "available"))
    return out


def only(decisions: Sequence[Decision], kind: type[T]) -> list[T]:
    return [item for item in decisions if isinstance(item, kind)]


def offers(decisions: Sequence[Decision]) -> list[Offer]:
    return only(decisions, Offer)


def offered_agents(decisions: Sequence[Decision]) -> list[str]:
    return [offer.agent_id for offer in offers(decisions)]


def advance(router: Router, clock: VirtualClock, seconds: float) -> list[Decision]:
    """Move the clock, firing router timers at their due times on the way."""
    target = clock.now() + seconds
    out: list[Decision] = []
    for _ in range(10_000):
        due = router.next_timer()
        if due is None or due > target:
            break
        clock.set(max(due, clock.now()))
        out.extend(router.tick())
    clock.set(target)
    out.extend(router.tick())
    return out


def agents(count: int, **fields: Any) -> dict[str, dict[str, Any]]:
    """Return ``count`` agent configs a1, a2… with the same ``fields``."""
    return {f"a{index}": dict(fields) for index in range(1, count + 1)}
