"""An in-memory AgentDesk for the CTI unit tests: agents, offers, interactions and wrap-up.

It follows the AgentDesk contract (views, DeskError codes, the events each action
publishes) without a router; end-to-end tests use the real AcdService instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cti.ports import DeskError
from santral.clock import Clock
from santral.events import (
    AgentStateChanged,
    AgentStatusChanged,
    ConsultChanged,
    EventBus,
    InteractionConnected,
    InteractionEnded,
    InteractionHeld,
    OfferCreated,
    OfferEnded,
    WrapupEnded,
    WrapupStarted,
)

REASON_CODES = ["break", "lunch", "training"]
DISPOSITION_CODES = ["resolved", "callback", "escalated"]


@dataclass
class FakeAgent:
    agent_id: str
    name: str
    status: str = "logged_out"
    reason: str = ""
    state: str = "idle"
    offer: dict[str, Any] | None = None
    interactions: list[dict[str, Any]] = field(default_factory=list)
    wrapup: dict[str, Any] | None = None


class FakeDesk:
    def __init__(self, bus: EventBus, clock: Clock, agents: dict[str, str]) -> None:
        self.bus = bus
        self.clock = clock
        self.agents_by_id = {
            agent_id: FakeAgent(agent_id, name) for agent_id, name in agents.items()
        }
        self.waiting: dict[str, int] = {"support": 0}
        self.actions: list[tuple[str, ...]] = []
        self._offers = 0

    def _agent(self, agent_id: str) -> FakeAgent:
        agent = self.agents_by_id.get(agent_id)
        if agent is None:
            raise DeskError(f"unknown agent {agent_id!r}", "not_found", agent_id=agent_id)
        return agent

    def _set_state(self, agent: FakeAgent, state: str) -> None:
        old, agent.state = agent.state, state
        self.bus.publish(AgentStateChanged(agent_id=agent.agent_id, old=old, new=state))

    def agent_view(self, agent_id: str) -> dict[str, Any]:
        agent = self._agent(agent_id)
        return {
            "agent_id": agent.agent_id, "name": agent.name, "status": agent.status,
            "reason": agent.reason, "state": agent.state, "offer": agent.offer,
            "interactions": [dict(item) for item in agent.interactions], "wrapup": agent.wrapup,
        }

    def agents(self) -> list[dict[str, Any]]:
        return [self.agent_view(agent_id) for agent_id in self.agents_by_id]

    def queues(self) -> list[dict[str, Any]]:
        counts: dict[str, int] = {}
        for agent in self.agents_by_id.values():
            key = agent.status if agent.status != "available" else agent.state
            counts[key] = counts.get(key, 0) + 1
        return [
            {"queue": queue, "waiting": waiting, "longest_wait": 0.0, "service_level": None,
             "agents": counts}
            for queue, waiting in self.waiting.items()
        ]

    async def set_status(self, agent_id: str, status: str, reason_code: str = "") -> None:
        agent = self._agent(agent_id)
        if status == "not_ready" and reason_code not in REASON_CODES:
            raise DeskError(f"unknown reason code {reason_code!r}", "invalid", agent_id=agent_id)
        old, agent.status, agent.reason = agent.status, status, reason_code
        self.bus.publish(AgentStatusChanged(agent_id=agent_id, old=old, new=status,
                                            reason=reason_code))

    def offer(self, agent_id: str, pop: dict[str, Any], queue: str = "support",
              channel: str = "voice", attributes: dict[str, Any] | None = None) -> str:
        """Offer a new interaction to an agent; return the offer id."""
        agent = self._agent(agent_id)
        self._offers += 1
        offer_id, interaction_id = f"o{self._offers}", f"i{self._offers}"
        agent.offer = {"offer_id": offer_id, "interaction_id": interaction_id, "queue": queue,
                       "channel": channel, "timeout": 20.0,
                       "expires_at": self.clock.now() + 20.0, "pop": pop,
                       "attributes": dict(attributes or {})}
        self._set_state(agent, "reserved")
        self.bus.publish(OfferCreated(offer_id=offer_id, interaction_id=interaction_id,
                                      agent_id=agent_id, queue=queue, channel=channel,
                                      timeout=20.0, pop=pop))
        return offer_id

    def _take_offer(self, agent_id: str, offer_id: str) -> tuple[FakeAgent, dict[str, Any]]:
        agent = self._agent(agent_id)
        if agent.offer is None or agent.offer["offer_id"] != offer_id:
            raise DeskError(f"agent {agent_id!r} has no offer {offer_id!r}", "not_found",
                            agent_id=agent_id)
        offer, agent.offer = agent.offer, None
        return agent, offer

    async def accept(self, agent_id: str, offer_id: str) -> None:
        agent, offer = self._take_offer(agent_id, offer_id)
        agent.interactions.append({
            "interaction_id": offer["interaction_id"], "channel": offer["channel"],
            "queue": offer["queue"], "caller": offer["pop"].get("caller", ""),
            "connected_at": self.clock.now(), "on_hold": False,
            "attributes": offer.pop("attributes", {}),
        })
        self._set_state(agent, "busy")
        self.bus.publish(InteractionConnected(interaction_id=offer["interaction_id"],
                                              agent_id=agent_id, queue=offer["queue"],
                                              channel=offer["channel"]))

    async def reject(self, agent_id: str, offer_id: str) -> None:
        agent, offer = self._take_offer(agent_id, offer_id)
        self.bus.publish(OfferEnded(offer_id=offer_id, interaction_id=offer["interaction_id"],
                                    agent_id=agent_id, reason="rejected"))
        self._set_state(agent, "idle")

    def _interaction(self, agent: FakeAgent, interaction_id: str) -> dict[str, Any]:
        for item in agent.interactions:
            if item["interaction_id"] == interaction_id:
                return item
        raise DeskError(f"agent {agent.agent_id!r} has no interaction {interaction_id!r}",
                        "not_found", agent_id=agent.agent_id)

    async def hangup(self, agent_id: str, interaction_id: str) -> None:
        agent = self._agent(agent_id)
        item = self._interaction(agent, interaction_id)
        agent.interactions.remove(item)
        self.bus.publish(InteractionEnded(interaction_id=interaction_id, outcome="answered",
                                          queue=item["queue"], agent_id=agent_id))
        agent.wrapup = {"interaction_id": interaction_id, "deadline": self.clock.now() + 30.0}
        self._set_state(agent, "wrap_up")
        self.bus.publish(WrapupStarted(agent_id=agent_id, interaction_id=interaction_id,
                                       duration=30.0))

    async def hold(self, agent_id: str, interaction_id: str, on_hold: bool) -> None:
        agent = self._agent(agent_id)
        item = self._interaction(agent, interaction_id)
        item["on_hold"] = on_hold
        self.bus.publish(InteractionHeld(interaction_id=interaction_id, agent_id=agent_id,
                                         on_hold=on_hold))

    async def transfer(self, agent_id: str, interaction_id: str, target_kind: str, target: str,
                       consult: bool) -> None:
        agent = self._agent(agent_id)
        self._interaction(agent, interaction_id)
        self.actions.append(("transfer", interaction_id, target_kind, target, str(consult)))

    async def consult(self, agent_id: str, interaction_id: str, target_kind: str,
                      target: str) -> None:
        agent = self._agent(agent_id)
        item = self._interaction(agent, interaction_id)
        if item.get("consult"):
            raise DeskError(f"interaction {interaction_id!r} is already consulting",
                            "invalid_state", agent_id=agent_id)
        item["consult"] = {"target_kind": target_kind, "target": target}
        self.actions.append(("consult", interaction_id, target_kind, target))
        self._publish_consult(agent_id, interaction_id, "requested")

    async def complete_consult(self, agent_id: str, interaction_id: str) -> None:
        self._end_consult(agent_id, interaction_id, "completed")

    async def cancel_consult(self, agent_id: str, interaction_id: str) -> None:
        self._end_consult(agent_id, interaction_id, "cancelled")

    def _end_consult(self, agent_id: str, interaction_id: str, state: str) -> None:
        item = self._interaction(self._agent(agent_id), interaction_id)
        if not item.get("consult"):
            raise DeskError(f"interaction {interaction_id!r} has no consultation",
                            "invalid_state", agent_id=agent_id)
        self.actions.append((state, interaction_id))
        self._publish_consult(agent_id, interaction_id, state)
        item["consult"] = None

    def _publish_consult(self, agent_id: str, interaction_id: str, state: str) -> None:
        item = self._interaction(self._agent(agent_id), interaction_id)
        consult = item["consult"]
        self.bus.publish(ConsultChanged(
            consult_id=f"c-{interaction_id}", interaction_id=interaction_id, agent_id=agent_id,
            call_id="", target_kind=consult["target_kind"], target=consult["target"],
            state=state,
        ))

    async def end_wrapup(self, agent_id: str, disposition: str, notes: str = "") -> None:
        agent = self._agent(agent_id)
        if agent.wrapup is None:
            raise DeskError(f"agent {agent_id!r} is not in wrap-up", "invalid_state",
                            agent_id=agent_id)
        if disposition not in DISPOSITION_CODES:
            raise DeskError(f"unknown disposition {disposition!r}", "invalid", agent_id=agent_id)
        interaction_id = agent.wrapup["interaction_id"]
        agent.wrapup = None
        self.bus.publish(WrapupEnded(agent_id=agent_id, interaction_id=interaction_id,
                                     disposition=disposition, notes=notes))
        self._set_state(agent, "idle")

    async def extend_wrapup(self, agent_id: str, seconds: float) -> None:
        agent = self._agent(agent_id)
        if agent.wrapup is None:
            raise DeskError(f"agent {agent_id!r} is not in wrap-up", "invalid_state",
                            agent_id=agent_id)
        agent.wrapup = {**agent.wrapup, "deadline": agent.wrapup["deadline"] + seconds}

    async def send_message(self, agent_id: str, interaction_id: str, text: str) -> None:
        raise DeskError("written replies are not supported yet", "not_supported",
                        agent_id=agent_id)

    def reason_codes(self) -> list[str]:
        return list(REASON_CODES)

    def disposition_codes(self) -> list[str]:
        return list(DISPOSITION_CODES)
