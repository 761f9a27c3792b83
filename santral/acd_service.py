"""The ACD as the live engine runs it: the pure router plus timers, connectors and events.

``AcdService`` owns one ``acd.router.Router``. It arms one asyncio timer at the router's
``next_timer()``, turns router decisions into events on the bus, connects voice calls
through the connector that owns them once an agent accepts, and implements the
``cti.ports.AgentDesk`` protocol the agent console uses.

Consult transfers: the agent who has the call (A) consults an agent, a queue or a number
while the caller holds, then completes the transfer or cancels it. A consultation of an
agent or a queue is an interaction of its own in the router (priority
``CONSULT_PRIORITY``; for an agent, sticky to that agent), so the consulted agent (B) is
reserved and offered it like any call, with A's screen pop. B's acceptance rings B through
the connector's ``ConsultControl.consult``. On completion B's interaction takes over the
call and A's ends as ``transferred``. When the consultation ends any other way, B's
interaction ends too: after a conversation B gets the queue's normal wrap-up, and before
one B is freed at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, TypeVar, cast

import structlog

from acd import decisions as d
from acd.model import AcdError, UnknownAgentError, UnknownInteractionError, UnknownOfferError
from acd.router import Router
from acd.settings import AcdSettings
from cti.ports import DeskError
from ivr.actions import QueueResult
from santral import events as ev
from santral.clock import Clock, SystemClock
from santral.events import EventBus
from santral.tasks import TaskSupervisor
from santral.telephony.base import AgentEndpoint, AgentLegResult, CallControl, ConsultControl

log = structlog.get_logger(__name__)

PHONE_UNAVAILABLE = "phone_unavailable"
# Router errors about a malformed value rather than the current state (HTTP 400, not 409).
INVALID_INPUT_MESSAGES = ("unknown reason code", "unknown agent status", "wrap-up extension")
STATISTICS_KEPT = 86400.0  # seconds of interval statistics kept in memory
DEFAULT_DISPOSITION_CODES = ("resolved", "follow_up", "escalated", "wrong_number", "other")
# A consultation request waits ahead of every ordinary interaction of its queue.
CONSULT_PRIORITY = 1000
# Seconds a consultation of a named agent stays reserved for that agent. The consultation
# ends (and its interaction with it) long before, when the agent misses or rejects it.
CONSULT_STICKY = 86400.0
CONSULT_OPERATIONS = ("consult", "complete_consult", "cancel_consult")
# Seconds a call blind-transferred to an agent is offered only to that agent before any
# agent of its queue may take it.
TRANSFER_STICKY = 60.0

QueueResultHandler = Callable[[QueueResult], None]
HandoverHandler = Callable[[str], None]
T = TypeVar("T")


class WrittenChannel(Protocol):
    """An email or chat adapter: delivers agents' replies to the customer.

    A transferred conversation ends its interaction as ``transferred`` and goes on under a
    new one, so the adapter keeps the customer on that outcome and waits for
    ``moved``.
    """

    async def deliver(self, interaction_id: str, agent_id: str, text: str) -> str:
        """Send ``text`` to the customer; return the message id the channel gave it."""
        ...

    def moved(self, old_id: str, new_id: str) -> None:
        """Carry the customer of ``old_id`` over to ``new_id``; "" means the transfer failed."""
        ...


@dataclass
class VoiceLeg:
    """The live call behind a voice interaction and how to hand its queue result back.

    ``on_handover`` is called with the interaction that owns the call after a transfer
    inside the ACD, or with "" when the call left the ACD for a number.
    """

    call_id: str
    control: CallControl
    on_result: QueueResultHandler
    on_handover: HandoverHandler | None = None

    def hand_over(self, interaction_id: str) -> None:
        if self.on_handover is not None:
            self.on_handover(interaction_id)


class ConsultState(StrEnum):
    """The state of a consultation; the last five are final."""

    REQUESTED = "requested"
    RINGING = "ringing"
    CONNECTED = "connected"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"
    TARGET_LEFT = "target_left"
    ENDED = "ended"


ACTIVE_CONSULT_STATES = frozenset(
    {ConsultState.REQUESTED, ConsultState.RINGING, ConsultState.CONNECTED}
)
CALLER_HELD_STATES = frozenset({ConsultState.RINGING, ConsultState.CONNECTED})


@dataclass
class Consultation:
    """Agent ``agent_id`` consulting a target about interaction ``interaction_id``.

    ``target_interaction_id`` is the consulted agent's interaction (empty for a number).
    ``ringing`` is the task ringing a number; an agent's ring task is an offer's.
    """

    consult_id: str
    interaction_id: str
    agent_id: str
    voice: VoiceLeg
    target_kind: str
    target: str
    state: ConsultState = ConsultState.REQUESTED
    target_interaction_id: str = ""
    target_agent_id: str = ""
    ringing: asyncio.Task[None] | None = None


@dataclass
class OpenOffer:
    """An offer the router made and has not ended: when, and the screen pop it carried."""

    decision: d.Offer
    created_at: float
    pop: dict[str, Any]


@dataclass
class LiveInteraction:
    """The engine's record of an interaction, beyond the router's view."""

    interaction_id: str
    channel: str
    queue: str
    caller: str = ""
    called: str = ""
    enqueued_at: float = 0.0
    connected_at: float | None = None
    agent_id: str = ""
    on_hold: bool = False
    pop: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    voice: VoiceLeg | None = None
    offers: set[str] = field(default_factory=set)
    # The consultation this interaction's agent started, and, on the consulted agent's own
    # interaction, the consultation it serves.
    consult: Consultation | None = None
    consulted_by: Consultation | None = None
    # Where the agent sent the call, set just before a transfer ends this interaction.
    transfer_target: str = ""


@dataclass
class EnqueueRequest:
    """An interaction for the ACD; ``skills`` are required skills with minimum levels."""

    channel: str
    queue: str
    caller: str = ""
    called: str = ""
    skills: dict[str, int] = field(default_factory=dict)
    preferred_skills: dict[str, int] = field(default_factory=dict)
    language: str | None = None
    priority: int = 0
    attributes: dict[str, Any] = field(default_factory=dict)
    pop: dict[str, Any] = field(default_factory=dict)
    call_id: str = ""
    # Offered only to this agent for ``sticky_timeout`` seconds, then to the whole queue.
    preferred_agent: str = ""
    sticky_timeout: float = 0.0


class AcdService:
    """Runs the router live and serves agents; see the module docstring.

    All methods run on the event loop thread. Router errors in agent actions become
    ``cti.ports.DeskError`` with a code the API maps to an HTTP status.
    """

    def __init__(
        self,
        settings: AcdSettings,
        bus: EventBus,
        *,
        clock: Clock | None = None,
        disposition_codes: Iterable[str] = DEFAULT_DISPOSITION_CODES,
        interaction_ids: Callable[[], str] | None = None,
    ) -> None:
        self._clock = clock or SystemClock()
        self._bus = bus
        self._settings = settings
        self.router = Router(settings, self._clock)
        self._interactions: dict[str, LiveInteraction] = {}
        self._offers: dict[str, OpenOffer] = {}
        self._connecting: dict[str, asyncio.Task[None]] = {}
        self._wrapups: dict[str, str] = {}
        self._dispositions_given: dict[str, tuple[str, str]] = {}
        self._dispositions = list(disposition_codes)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due: float | None = None
        self._channels: dict[str, WrittenChannel] = {}
        self._phone_paused: set[str] = set()
        self._last_discard = self._clock.now()
        self._tasks = TaskSupervisor("acd")
        # Ids must stay unique across engine restarts: the store keys records by them.
        self._new_id = interaction_ids or (lambda: f"i-{uuid.uuid4().hex[:16]}")

    def watch_endpoints(self) -> None:
        """Follow agents' phones: an unavailable phone makes its agent not ready until back."""
        self._bus.subscribe(self._on_endpoint_event)

    def _on_endpoint_event(self, event: ev.Event) -> None:
        if not isinstance(event, ev.EndpointStateChanged) or not event.agent_id:
            return
        agent_id = event.agent_id
        if agent_id not in self._settings.agents:
            return
        view = self.router.agent(agent_id)
        if not event.available and view.status == "available":
            reason = PHONE_UNAVAILABLE if PHONE_UNAVAILABLE in self._settings.reason_codes else ""
            log.info("agent_phone_unavailable", agent_id=agent_id, state=event.state)
            self._phone_paused.add(agent_id)
            self._apply(self.router.set_agent_status(agent_id, "not_ready", reason))
        elif event.available and agent_id in self._phone_paused:
            self._phone_paused.discard(agent_id)
            if view.status == "not_ready" and view.reason in (PHONE_UNAVAILABLE, ""):
                log.info("agent_phone_available", agent_id=agent_id, state=event.state)
                self._apply(self.router.set_agent_status(agent_id, "available"))

    @property
    def settings(self) -> AcdSettings:
        return self._settings

    async def close(self) -> None:
        """Stop the timer and cancel agent legs still ringing."""
        if self._timer is not None:
            self._timer.cancel()
        await self._tasks.close()

    def reload(self, settings: AcdSettings) -> None:
        """Apply new queue and agent settings; waiting interactions keep their rules."""
        self._settings = settings
        self._apply(self.router.reload(settings))

    # Interactions

    def enqueue(self, request: EnqueueRequest, voice: VoiceLeg | None = None) -> str | QueueResult:
        """Queue an interaction; return its id, or the ``QueueResult`` if the queue refused it."""
        if request.queue not in self._settings.queues:
            log.error("queue_unknown", queue=request.queue, call_id=request.call_id)
            return QueueResult(outcome="no_agents", target="")
        interaction_id = self._new_id()
        live = LiveInteraction(
            interaction_id=interaction_id,
            channel=request.channel,
            queue=request.queue,
            caller=request.caller,
            called=request.called,
            enqueued_at=self._clock.now(),
            pop=dict(request.pop),
            attributes=dict(request.attributes),
            voice=voice,
        )
        self._interactions[interaction_id] = live
        decisions = self.router.add_interaction(
            interaction_id,
            request.queue,
            request.channel,
            skills=request.skills or None,
            preferred_skills=request.preferred_skills or None,
            language=request.language or None,
            priority=request.priority,
            attributes=request.attributes,
            preferred_agent=request.preferred_agent or None,
            sticky_timeout=request.sticky_timeout,
        )
        rejected = next((item for item in decisions if isinstance(item, d.JoinRejected)), None)
        if rejected is not None:
            del self._interactions[interaction_id]
            outcome = "full" if rejected.reason == "queue_full" else "no_agents"
            log.info("queue_join_rejected", queue=request.queue, reason=rejected.reason)
            return QueueResult(outcome=outcome)
        self._publish_queued(live, request.priority, request)
        self._apply(decisions)
        return interaction_id

    def abandon(self, interaction_id: str, reason: str = "caller_hangup") -> None:
        """Take out an interaction whose caller left; a connected one ends normally."""
        if interaction_id not in self._interactions:
            return
        try:
            self._apply(self.router.remove_interaction(interaction_id, reason))
        except AcdError as error:
            log.warning("abandon_ignored", interaction_id=interaction_id, error=str(error))

    def end(self, interaction_id: str) -> None:
        """End a connected interaction (either side hung up); the agent goes to wrap-up."""
        live = self._interactions.get(interaction_id)
        if live is None:
            return
        try:
            self._apply(self.router.end_interaction(interaction_id))
        except AcdError:
            self.abandon(interaction_id)

    def interaction(self, interaction_id: str) -> LiveInteraction | None:
        return self._interactions.get(interaction_id)

    def position(self, interaction_id: str) -> tuple[int, float | None, float] | None:
        """Return (position from 1, estimated wait, waited) of a waiting interaction."""
        live = self._interactions.get(interaction_id)
        if live is None:
            return None
        snapshot = self.router.snapshot().get(live.queue)
        if snapshot is None:
            return None
        for index, item in enumerate(snapshot.waiting, start=1):
            if item.interaction_id == interaction_id:
                return index, item.estimated_wait, item.waited
        return None

    # Decisions into events

    def _apply(self, decisions: list[d.Decision]) -> None:
        for decision in decisions:
            try:
                self._carry_out(decision)
            except Exception:
                log.exception("acd_decision_failed", decision=repr(decision))
        self._rearm()

    def _carry_out(self, decision: d.Decision) -> None:
        match decision:
            case d.Offer():
                self._offered(decision)
            case d.OfferAccepted():
                self._accepted(decision)
            case d.OfferEnded():
                self._offer_ended(decision)
            case d.Connected():
                self._connected(decision)
            case d.InteractionEnded():
                self._ended(decision)
            case d.Queued():
                self._requeued(decision)
            case d.WrapupStarted():
                self._wrapups[decision.agent_id] = decision.interaction_id
                self.publish(ev.WrapupStarted(**_fields(decision)))
            case d.WrapupEnded():
                self._wrapups.pop(decision.agent_id, None)
                disposition, notes = self._dispositions_given.pop(decision.agent_id, ("", ""))
                self.publish(
                    ev.WrapupEnded(**_fields(decision), disposition=disposition, notes=notes)
                )
            case d.AgentStatusChanged():
                self.publish(ev.AgentStatusChanged(**_fields(decision)))
            case d.AgentStateChanged():
                self.publish(ev.AgentStateChanged(**_fields(decision)))
            case d.Escalated():
                log.info("interaction_escalated", **_fields(decision))
            case d.Overflow() | d.JoinRejected():
                log.info("interaction_overflow", **_fields(decision))

    def publish(self, event: ev.Event) -> None:
        """Publish an event on the engine's bus (adapters use it for typing, for example)."""
        self._bus.publish(event)

    def _publish_queued(
        self, live: LiveInteraction, priority: int, request: EnqueueRequest | None = None
    ) -> None:
        """Publish that ``live`` waits in its queue; ``request`` adds what it joined with."""
        self.publish(
            ev.InteractionQueued(
                interaction_id=live.interaction_id,
                channel=live.channel,
                queue=live.queue,
                caller=live.caller,
                called=live.called,
                call_id=live.voice.call_id if live.voice else "",
                priority=priority,
                language=(request.language or "") if request else "",
                skills=dict(request.skills) if request else {},
                attributes=dict(request.attributes) if request else {},
            )
        )

    def _requeued(self, decision: d.Queued) -> None:
        live = self._interactions.get(decision.interaction_id)
        if live is not None and live.queue != decision.queue:
            live.queue = decision.queue
            self._publish_queued(live, decision.priority)

    def _offered(self, offer: d.Offer) -> None:
        live = self._interactions.get(offer.interaction_id)
        pop: dict[str, Any] = {}
        if live is not None:
            live.offers.add(offer.offer_id)
            pop = {
                **live.pop,
                "interaction_id": live.interaction_id,
                "channel": live.channel,
                "queue": offer.queue,
                "caller": live.caller,
                "called": live.called,
                "waited": round(self._clock.now() - live.enqueued_at, 3),
            }
            if live.channel != "voice":
                pop["messages"] = list(live.attributes.get("messages", []))
        self._offers[offer.offer_id] = OpenOffer(offer, self._clock.now(), pop)
        self.publish(
            ev.OfferCreated(
                offer_id=offer.offer_id,
                interaction_id=offer.interaction_id,
                agent_id=offer.agent_id,
                queue=offer.queue,
                channel=offer.channel,
                timeout=offer.timeout,
                pop=pop,
            )
        )
        agent = self._settings.agents.get(offer.agent_id)
        if agent is not None and agent.auto_accept:
            self._apply_accept(offer.offer_id)

    def _apply_accept(self, offer_id: str) -> None:
        open_offer = self._offers.get(offer_id)
        connect_now = open_offer is not None and open_offer.decision.channel != "voice"
        self._apply(self.router.accept(offer_id, connect=connect_now))

    def _accepted(self, decision: d.OfferAccepted) -> None:
        live = self._interactions.get(decision.interaction_id)
        open_offer = self._offers.get(decision.offer_id)
        if live is None or open_offer is None:
            return
        if live.consulted_by is not None:
            self._ring_consulted_agent(live.consulted_by, open_offer.decision)
            return
        if live.voice is None:
            return
        offer = open_offer.decision
        if offer.channel != "voice":
            return
        task = self._tasks.spawn(
            self._connect_agent(live, offer), name=f"connect-{decision.offer_id}"
        )
        self._connecting[decision.offer_id] = task

    async def _connect_agent(self, live: LiveInteraction, offer: d.Offer) -> None:
        """Ring the agent's endpoint: an answer connects, any other result is a miss."""
        assert live.voice is not None
        agent = self._settings.agents.get(offer.agent_id)
        endpoint = AgentEndpoint(
            agent_id=offer.agent_id,
            address=agent.endpoint if agent is not None else "",
            display_name=agent.name if agent is not None else offer.agent_id,
        )
        ring_timeout = self._settings.queues[offer.queue].ring_timeout
        whisper = f"{offer.queue} call from {live.pop.get('caller_name') or live.caller}"
        bound = log.bind(call_id=live.voice.call_id, agent_id=offer.agent_id)
        try:
            result = await live.voice.control.connect_agent(
                live.voice.call_id, endpoint, ring_timeout, whisper
            )
        except Exception as error:
            bound.error("agent_connect_failed", error=str(error))
            result = AgentLegResult.FAILED
        finally:
            self._connecting.pop(offer.offer_id, None)
        bound.info("agent_leg_result", result=result.value)
        self._agent_leg_result(live, offer, result)

    def _agent_leg_result(
        self, live: LiveInteraction, offer: d.Offer, result: AgentLegResult
    ) -> None:
        try:
            if result is AgentLegResult.ANSWERED:
                self._apply(self.router.connected(offer.offer_id))
            elif result is AgentLegResult.CALLER_GONE:
                self.abandon(live.interaction_id)
            else:
                self._apply(self.router.miss(offer.offer_id, result.value))
        except AcdError as error:
            log.warning("agent_leg_result_ignored", offer_id=offer.offer_id, error=str(error))

    def _offer_ended(self, decision: d.OfferEnded) -> None:
        self._offers.pop(decision.offer_id, None)
        live = self._interactions.get(decision.interaction_id)
        if live is not None:
            live.offers.discard(decision.offer_id)
        ringing = self._connecting.pop(decision.offer_id, None)
        if ringing is not None:
            ringing.cancel()
        self.publish(ev.OfferEnded(**_fields(decision)))
        if live is not None and live.consulted_by is not None:
            self._consult_offer_ended(live.consulted_by, decision.reason)

    def _connected(self, decision: d.Connected) -> None:
        self._offers.pop(decision.offer_id, None)
        live = self._interactions.get(decision.interaction_id)
        if live is not None:
            live.connected_at = self._clock.now()
            live.agent_id = decision.agent_id
            live.offers.discard(decision.offer_id)
        self.publish(
            ev.InteractionConnected(
                interaction_id=decision.interaction_id,
                agent_id=decision.agent_id,
                queue=decision.queue,
                channel=decision.channel,
            )
        )

    def _ended(self, decision: d.InteractionEnded) -> None:
        live = self._interactions.pop(decision.interaction_id, None)
        transfer_target = live.transfer_target if live is not None else ""
        self.publish(
            ev.InteractionEnded(
                interaction_id=decision.interaction_id,
                outcome="transferred" if transfer_target else decision.outcome,
                queue=decision.queue,
                agent_id=decision.agent_id,
                overflow_target=decision.overflow_target,
                transfer_target=transfer_target,
            )
        )
        if live is not None:
            self._end_consultations_of(live, decision.outcome)
        if live is None or live.voice is None:
            return
        result = _queue_result(decision)
        live.voice.on_result(result)

    def _rearm(self) -> None:
        """Arm the one timer at the router's next due time; keep it if that did not move."""
        due = self.router.next_timer()
        if self._timer is not None and due == self._timer_due:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if due is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        delay = max(0.0, due - self._clock.now())
        self._timer = loop.call_later(delay, self._fire)
        self._timer_due = due

    def _fire(self) -> None:
        self._timer = None
        self._apply(self.router.tick())
        self._discard_old_statistics()

    def _discard_old_statistics(self) -> None:
        """Forget statistics intervals older than a day, so memory does not grow with uptime."""
        now = self._clock.now()
        if self.router.stats is None or now - self._last_discard < STATISTICS_KEPT:
            return
        self._last_discard = now
        self.router.stats.discard_before(now - STATISTICS_KEPT)

    # AgentDesk: views

    def agent_view(self, agent_id: str) -> dict[str, Any]:
        view = self._router_call(agent_id, lambda: self.router.agent(agent_id))
        settings = self._settings.agents.get(agent_id)
        open_offer = self._offers.get(view.offer_id) if view.offer_id else None
        return {
            "agent_id": agent_id,
            "name": settings.name if settings is not None and settings.name else agent_id,
            "status": view.status,
            "reason": view.reason,
            "state": view.state,
            "offer": self._offer_view(open_offer) if open_offer is not None else None,
            "interactions": [
                self._interaction_view(self._interactions[item])
                for item in view.interactions
                if item in self._interactions
            ],
            "wrapup": (
                {"interaction_id": self._wrapups.get(agent_id, ""), "deadline": view.wrapup_until}
                if view.wrapup_until is not None
                else None
            ),
        }

    def _offer_view(self, open_offer: OpenOffer) -> dict[str, Any]:
        offer = open_offer.decision
        return {
            "offer_id": offer.offer_id,
            "interaction_id": offer.interaction_id,
            "queue": offer.queue,
            "channel": offer.channel,
            "timeout": offer.timeout,
            "expires_at": open_offer.created_at + offer.timeout,
            "pop": dict(open_offer.pop),
        }

    def _interaction_view(self, live: LiveInteraction) -> dict[str, Any]:
        return {
            "interaction_id": live.interaction_id,
            "channel": live.channel,
            "queue": live.queue,
            "caller": live.caller,
            "connected_at": live.connected_at,
            "on_hold": live.on_hold,
            "attributes": dict(live.attributes),
            "consult": _consult_view(live.consult) if live.consult else None,
            "consulted_by": _consult_view(live.consulted_by) if live.consulted_by else None,
        }

    def agents(self) -> list[dict[str, Any]]:
        return [self.agent_view(agent_id) for agent_id in self.router.agents()]

    def queues(self) -> list[dict[str, Any]]:
        return [
            {
                "queue": name,
                "waiting": snapshot.waiting_count,
                "longest_wait": snapshot.longest_wait,
                "service_level": snapshot.service_level,
                "estimated_wait": snapshot.estimated_wait,
                "agents": dict(snapshot.agents_by_state),
            }
            for name, snapshot in self.router.snapshot().items()
        ]

    def reason_codes(self) -> list[str]:
        return list(self._settings.reason_codes)

    def disposition_codes(self) -> list[str]:
        return list(self._dispositions)

    # AgentDesk: actions

    async def set_status(self, agent_id: str, status: str, reason_code: str = "") -> None:
        decisions = self._router_call(
            agent_id, lambda: self.router.set_agent_status(agent_id, status, reason_code)
        )
        self._apply(decisions)

    async def accept(self, agent_id: str, offer_id: str) -> None:
        self._own_offer(agent_id, offer_id)
        self._router_call(agent_id, lambda: self._apply_accept(offer_id))

    async def reject(self, agent_id: str, offer_id: str) -> None:
        self._own_offer(agent_id, offer_id)
        self._apply(self._router_call(agent_id, lambda: self.router.reject(offer_id)))

    async def hangup(self, agent_id: str, interaction_id: str) -> None:
        live = self._own_interaction(agent_id, interaction_id)
        if live.consulted_by is not None:
            await self._leave_consultation(agent_id, live.consulted_by)
            return
        if live.voice is not None:
            control, call_id = live.voice.control, live.voice.call_id
            # Connectors that can drop the agent leg alone leave the caller in the dialplan
            # (for the survey); the others end the whole call.
            hangup_agent = getattr(control, "hangup_agent", None)
            operation = hangup_agent(call_id) if hangup_agent else control.hangup(call_id)
            await self._connector_call(agent_id, operation)
        self.end(interaction_id)

    async def hold(self, agent_id: str, interaction_id: str, on_hold: bool) -> None:
        live = self._own_interaction(agent_id, interaction_id)
        self._check_not_consulting(live, "held")
        if live.voice is None:
            raise DeskError(
                f"hold is for voice calls; {live.channel} cannot be held", "not_supported"
            )
        await self._connector_call(agent_id, live.voice.control.hold(live.voice.call_id, on_hold))
        self._set_held(live, on_hold)

    def _set_held(self, live: LiveInteraction, on_hold: bool) -> None:
        live.on_hold = on_hold
        if self.router.stats is not None:
            self.router.stats.record_hold(live.interaction_id, on_hold, self._clock.now())
        self.publish(
            ev.InteractionHeld(
                interaction_id=live.interaction_id, agent_id=live.agent_id, on_hold=on_hold
            )
        )

    async def transfer(
        self, agent_id: str, interaction_id: str, target_kind: str, target: str, consult: bool
    ) -> None:
        if consult:
            await self.consult(agent_id, interaction_id, target_kind, target)
            return
        live = self._own_interaction(agent_id, interaction_id)
        self._check_not_consulting(live, "transferred")
        if target_kind == "number":
            voice = live.voice
            if voice is None:
                raise DeskError(
                    f"only voice calls can go to a number; {live.channel} cannot",
                    "not_supported",
                    agent_id=agent_id,
                )
            await self._connector_call(agent_id, voice.control.transfer(voice.call_id, target))
            self._end_transferred(live, f"number:{target}")
            voice.hand_over("")
            return
        if target_kind == "queue" and target not in self._settings.queues:
            raise DeskError(f"unknown queue {target!r}", "not_found", agent_id=agent_id)
        if target_kind == "agent" and target not in self._settings.agents:
            raise DeskError(f"unknown agent {target!r}", "not_found", agent_id=agent_id)
        if target_kind not in ("queue", "agent"):
            raise DeskError(f"unknown transfer target kind {target_kind!r}", "invalid")
        self._requeue_transfer(live, target_kind, target)

    def _end_transferred(self, live: LiveInteraction, transfer_target: str) -> None:
        """End the agent's side of a transferred call and record where the call went.

        The router's end publishes the one ``InteractionEnded``, as ``transferred``.
        """
        live.voice = None
        live.transfer_target = transfer_target
        self.end(live.interaction_id)

    def _requeue_transfer(self, live: LiveInteraction, target_kind: str, target: str) -> None:
        voice = live.voice
        self._end_transferred(live, f"{target_kind}:{target}")
        queue = target if target_kind == "queue" else live.queue
        request = EnqueueRequest(
            channel=live.channel,
            queue=queue,
            caller=live.caller,
            called=live.called,
            attributes={**live.attributes, "transferred_from": live.agent_id},
            pop={**live.pop, "transferred_from": live.agent_id},
            call_id=voice.call_id if voice else "",
            preferred_agent=target if target_kind == "agent" else "",
            sticky_timeout=TRANSFER_STICKY if target_kind == "agent" else 0.0,
        )
        new_id = self.enqueue(request, voice)
        written = self._channels.get(live.channel)
        if written is not None:
            # The customer's conversation (mail thread, chat socket) follows the transfer.
            written.moved(live.interaction_id, new_id if isinstance(new_id, str) else "")
        if isinstance(new_id, QueueResult) and voice is not None:
            voice.on_result(new_id)
        elif isinstance(new_id, str) and voice is not None:
            voice.hand_over(new_id)
            self._tasks.spawn(voice.control.hold(voice.call_id, True), name=f"hold-{new_id}")

    # AgentDesk: consult transfers

    async def consult(
        self, agent_id: str, interaction_id: str, target_kind: str, target: str
    ) -> None:
        """Start consulting ``target`` about a voice call the agent has; return at once.

        The consultation's progress is published as ``ConsultChanged`` events. Raises
        ``DeskError``: not_supported when the call's connector cannot consult, not_found
        for an unknown target, invalid_state when a consultation is already in progress or
        the target agent cannot take a call now.
        """
        live = self._own_interaction(agent_id, interaction_id)
        voice = self._consult_voice(agent_id, live)
        if live.consult is not None:
            raise DeskError(
                f"interaction {interaction_id!r} is already consulting {live.consult.target!r}; "
                "complete or cancel that consultation first",
                "invalid_state",
                agent_id=agent_id,
            )
        consult = Consultation(
            consult_id=f"c-{uuid.uuid4().hex[:12]}",
            interaction_id=interaction_id,
            agent_id=agent_id,
            voice=voice,
            target_kind=target_kind,
            target=target,
        )
        if target_kind == "number":
            self._start_consultation(live, consult)
            self._ring_number(consult, live.queue)
        elif target_kind in ("agent", "queue"):
            queue, sticky_agent = self._consult_destination(agent_id, live, target_kind, target)
            decisions = self._queue_consultation(live, consult, queue, sticky_agent)
            self._start_consultation(live, consult)
            self._apply(decisions)
        else:
            raise DeskError(
                f"unknown consult target kind {target_kind!r}; use queue, agent or number",
                "invalid",
                agent_id=agent_id,
            )

    async def complete_consult(self, agent_id: str, interaction_id: str) -> None:
        """Bridge the caller with the consulted party; the agent's interaction ends.

        Raises ``DeskError`` (invalid_state) unless the consulted party has answered.
        """
        live = self._own_interaction(agent_id, interaction_id)
        consult = self._own_consultation(agent_id, live)
        if consult.state is not ConsultState.CONNECTED:
            raise DeskError(
                f"the consultation with {consult.target!r} is {consult.state.value}; complete "
                "it once the target has answered, or cancel it",
                "invalid_state",
                agent_id=agent_id,
            )
        control = _consult_control(consult.voice.control)
        await self._connector_call(agent_id, control.complete_consult(consult.voice.call_id))
        self._hand_over_call(live, consult)

    async def cancel_consult(self, agent_id: str, interaction_id: str) -> None:
        """End the consultation; the caller is back with the agent, off hold."""
        live = self._own_interaction(agent_id, interaction_id)
        consult = self._own_consultation(agent_id, live)
        if consult.state is ConsultState.CONNECTED:
            control = _consult_control(consult.voice.control)
            await self._connector_call(agent_id, control.cancel_consult(consult.voice.call_id))
        self._consult_to(consult, ConsultState.CANCELLED, "agent_cancelled")

    def consult_leg_ended(self, interaction_id: str) -> None:
        """Note that the consulted party hung up; the connector has bridged A back."""
        live = self._interactions.get(interaction_id)
        consult = live.consult if live is not None else None
        if consult is not None and consult.state in CALLER_HELD_STATES:
            self._consult_to(consult, ConsultState.TARGET_LEFT, "target_hangup")

    def _consult_voice(self, agent_id: str, live: LiveInteraction) -> VoiceLeg:
        if live.voice is None:
            raise DeskError(
                f"only voice calls can be consulted on; {live.channel} cannot",
                "not_supported",
                agent_id=agent_id,
            )
        control = live.voice.control
        if not all(callable(getattr(control, name, None)) for name in CONSULT_OPERATIONS):
            raise DeskError(
                f"the {control.name} connector cannot hold a consultation; "
                "use a blind transfer instead",
                "not_supported",
                agent_id=agent_id,
            )
        return live.voice

    def _consult_destination(
        self, agent_id: str, live: LiveInteraction, target_kind: str, target: str
    ) -> tuple[str, str | None]:
        """Return the queue and sticky agent of a consultation interaction, or raise."""
        if target_kind == "queue":
            if target not in self._settings.queues:
                raise DeskError(f"unknown queue {target!r}", "not_found", agent_id=agent_id)
            return target, None
        if target not in self._settings.agents:
            raise DeskError(f"unknown agent {target!r}", "not_found", agent_id=agent_id)
        if target == agent_id:
            raise DeskError("an agent cannot consult itself", "invalid", agent_id=agent_id)
        view = self.router.agent(target)
        if view.status != "available" or view.state != "idle":
            why = view.status if view.status != "available" else view.state
            reason = f" ({view.reason})" if view.reason else ""
            raise DeskError(
                f"agent {target!r} cannot take a consultation now: {why}{reason}; "
                "wait until the agent is available and idle, or consult a queue",
                "invalid_state",
                agent_id=agent_id,
            )
        return live.queue, target

    def _start_consultation(self, live: LiveInteraction, consult: Consultation) -> None:
        live.consult = consult
        log.info(
            "consult_started",
            consult_id=consult.consult_id,
            interaction_id=live.interaction_id,
            agent_id=consult.agent_id,
            target_kind=consult.target_kind,
            target=consult.target,
        )
        self._publish_consult(consult)

    def _queue_consultation(
        self,
        live: LiveInteraction,
        consult: Consultation,
        queue: str,
        sticky_agent: str | None,
    ) -> list[d.Decision]:
        """Queue the consultation as the target agent's interaction; raise if it cannot be.

        Returns the router's decisions for the caller to apply once the consultation is
        announced, so its first event comes before the offer it leads to.
        """
        target = LiveInteraction(
            interaction_id=self._new_id(),
            channel="voice",
            queue=queue,
            caller=live.caller,
            called=live.called,
            enqueued_at=self._clock.now(),
            pop={**live.pop, "consult": self._consult_pop(consult)},
            attributes={"consult_from": consult.agent_id, "consult_of": live.interaction_id},
            consulted_by=consult,
        )
        decisions = self.router.add_interaction(
            target.interaction_id,
            queue,
            "voice",
            priority=CONSULT_PRIORITY,
            attributes=target.attributes,
            preferred_agent=sticky_agent,
            sticky_timeout=CONSULT_STICKY if sticky_agent else 0.0,
        )
        self._check_consultation_queued(consult, target, decisions, sticky_agent)
        self._interactions[target.interaction_id] = target
        consult.target_interaction_id = target.interaction_id
        self.publish(
            ev.InteractionQueued(
                interaction_id=target.interaction_id,
                channel="voice",
                queue=queue,
                caller=live.caller,
                called=live.called,
                call_id=consult.voice.call_id,
                priority=CONSULT_PRIORITY,
                attributes=dict(target.attributes),
            )
        )
        return decisions

    def _check_consultation_queued(
        self,
        consult: Consultation,
        target: LiveInteraction,
        decisions: list[d.Decision],
        sticky_agent: str | None,
    ) -> None:
        rejected = next((item for item in decisions if isinstance(item, d.JoinRejected)), None)
        if rejected is not None:
            raise DeskError(
                f"queue {target.queue!r} cannot take the consultation now ({rejected.reason})",
                "invalid_state",
                agent_id=consult.agent_id,
            )
        if sticky_agent is None:
            return
        offered = any(
            isinstance(item, d.Offer) and item.agent_id == sticky_agent for item in decisions
        )
        if not offered:
            # The router could not reserve the agent; take the request out unannounced.
            self.router.remove_interaction(target.interaction_id, "consult_unavailable")
            raise DeskError(
                f"agent {sticky_agent!r} cannot take a voice call now; try again or consult "
                "a queue",
                "invalid_state",
                agent_id=consult.agent_id,
            )

    def _consult_pop(self, consult: Consultation) -> dict[str, Any]:
        settings = self._settings.agents.get(consult.agent_id)
        return {
            "from_agent_id": consult.agent_id,
            "from_agent_name": settings.name if settings is not None and settings.name else "",
            "interaction_id": consult.interaction_id,
            "consult_id": consult.consult_id,
        }

    def _ring_number(self, consult: Consultation, queue: str) -> None:
        endpoint = AgentEndpoint(agent_id="", address=consult.target, display_name=consult.target)
        ring_timeout = self._settings.queues[queue].ring_timeout
        consult.ringing = self._tasks.spawn(
            self._ring_consult(consult, endpoint, ring_timeout, None),
            name=f"consult-{consult.consult_id}",
        )

    def _ring_consulted_agent(self, consult: Consultation, offer: d.Offer) -> None:
        """Ring the agent who accepted the consultation's offer."""
        agent = self._settings.agents.get(offer.agent_id)
        endpoint = AgentEndpoint(
            agent_id=offer.agent_id,
            address=agent.endpoint if agent is not None else "",
            display_name=agent.name if agent is not None and agent.name else offer.agent_id,
        )
        consult.target_agent_id = offer.agent_id
        ring_timeout = self._settings.queues[offer.queue].ring_timeout
        task = self._tasks.spawn(
            self._ring_consult(consult, endpoint, ring_timeout, offer),
            name=f"consult-{offer.offer_id}",
        )
        self._connecting[offer.offer_id] = task

    async def _ring_consult(
        self,
        consult: Consultation,
        endpoint: AgentEndpoint,
        ring_timeout: float,
        offer: d.Offer | None,
    ) -> None:
        """Hold the caller and ring the target; cancelled, the connector hangs the ring up."""
        if consult.state is not ConsultState.REQUESTED:
            return  # cancelled or ended before the ring started
        self._consult_to(consult, ConsultState.RINGING)
        control = _consult_control(consult.voice.control)
        bound = log.bind(call_id=consult.voice.call_id, consult_id=consult.consult_id)
        try:
            result = await control.consult(consult.voice.call_id, endpoint, ring_timeout)
        except Exception as error:
            bound.error("consult_ring_failed", error=str(error))
            result = AgentLegResult.FAILED
        finally:
            consult.ringing = None
            if offer is not None:
                self._connecting.pop(offer.offer_id, None)
        bound.info("consult_leg_result", result=result.value)
        self._consult_rang(consult, offer, result)

    def _consult_rang(
        self, consult: Consultation, offer: d.Offer | None, result: AgentLegResult
    ) -> None:
        if consult.state is not ConsultState.RINGING:
            log.warning(
                "consult_result_ignored", consult_id=consult.consult_id, state=consult.state
            )
            return
        if result is AgentLegResult.ANSWERED:
            self._consult_answered(consult, offer)
        elif result is AgentLegResult.CALLER_GONE:
            self._consult_to(consult, ConsultState.ENDED, "caller_gone")
        elif offer is None:
            self._consult_to(consult, ConsultState.FAILED, result.value)
        else:
            # The offer's end decides: an agent's consultation fails, a queue's waits again.
            try:
                self._apply(self.router.miss(offer.offer_id, result.value))
            except AcdError as error:
                log.warning("consult_miss_ignored", offer_id=offer.offer_id, error=str(error))

    def _consult_answered(self, consult: Consultation, offer: d.Offer | None) -> None:
        if offer is not None:
            try:
                self._apply(self.router.connected(offer.offer_id))
            except AcdError as error:
                log.warning("consult_answer_late", consult_id=consult.consult_id, error=str(error))
                self._tasks.spawn(
                    _consult_control(consult.voice.control).cancel_consult(consult.voice.call_id),
                    name=f"consult-drop-{consult.consult_id}",
                )
                self._consult_to(consult, ConsultState.FAILED, "offer_ended")
                return
        self._consult_to(consult, ConsultState.CONNECTED)

    def _consult_offer_ended(self, consult: Consultation, reason: str) -> None:
        if consult.state not in ACTIVE_CONSULT_STATES or reason == "taken_elsewhere":
            return
        if consult.target_kind == "agent":
            self._consult_to(consult, ConsultState.FAILED, reason)
        elif consult.state is ConsultState.RINGING:
            self._consult_to(consult, ConsultState.REQUESTED, reason)

    def _hand_over_call(self, live: LiveInteraction, consult: Consultation) -> None:
        """Give the call to the consulted agent's interaction; end A's as transferred."""
        voice = live.voice
        target = self._interactions.get(consult.target_interaction_id)
        self._consult_to(consult, ConsultState.COMPLETED)
        if target is not None:
            target.consulted_by = None
            target.voice = voice
            # Tells the consulted agent's console that the caller now talks with that agent.
            self._set_held(target, False)
        self._end_transferred(live, f"{consult.target_kind}:{consult.target}")
        if voice is not None:
            voice.hand_over(target.interaction_id if target is not None else "")

    async def _leave_consultation(self, agent_id: str, consult: Consultation) -> None:
        """End the consulted agent's side: the caller is bridged with A again."""
        if consult.state is ConsultState.CONNECTED:
            control = _consult_control(consult.voice.control)
            await self._connector_call(agent_id, control.cancel_consult(consult.voice.call_id))
        self._consult_to(consult, ConsultState.TARGET_LEFT, "target_hangup")

    def _end_consultations_of(self, live: LiveInteraction, outcome: str) -> None:
        """End the consultations an interaction that just ended (with ``outcome``) took part in."""
        if live.consult is not None:
            self._consult_to(live.consult, ConsultState.ENDED, "call_ended")
        consult = live.consulted_by
        if consult is None or consult.state not in ACTIVE_CONSULT_STATES:
            return
        live.consulted_by = None
        if consult.state is ConsultState.CONNECTED:
            control = _consult_control(consult.voice.control)
            self._tasks.spawn(
                control.cancel_consult(consult.voice.call_id),
                name=f"consult-drop-{consult.consult_id}",
            )
            self._consult_to(consult, ConsultState.TARGET_LEFT, outcome)
        else:
            self._consult_to(consult, ConsultState.FAILED, outcome)

    def _consult_to(self, consult: Consultation, state: ConsultState, reason: str = "") -> None:
        """Move ``consult`` to ``state``: the one place its state changes.

        Entering ringing holds the caller; leaving ringing or connected for anything but a
        connection takes the caller off hold. A final state detaches the consultation from
        A's interaction and ends the target's (except on completion). Moves out of a final
        state are ignored, so each consultation ends exactly once.
        """
        old = consult.state
        if old not in ACTIVE_CONSULT_STATES or old is state:
            return
        consult.state = state
        log.info(
            "consult_state_changed",
            consult_id=consult.consult_id,
            old=old.value,
            new=state.value,
            reason=reason,
        )
        live = self._interactions.get(consult.interaction_id)
        if state is ConsultState.RINGING and live is not None:
            if not live.on_hold:
                self._set_held(live, True)
        elif old in CALLER_HELD_STATES and state is not ConsultState.CONNECTED and live:
            self._set_held(live, False)
        if state not in ACTIVE_CONSULT_STATES:
            self._finish_consultation(consult, live)
        self._publish_consult(consult, reason)

    def _finish_consultation(self, consult: Consultation, live: LiveInteraction | None) -> None:
        if live is not None and live.consult is consult:
            live.consult = None
        if consult.ringing is not None and consult.ringing is not asyncio.current_task():
            consult.ringing.cancel()
        if consult.state is ConsultState.COMPLETED:
            return
        target = self._interactions.get(consult.target_interaction_id)
        if target is None:
            return
        target.consulted_by = None
        if target.connected_at is not None:
            self.end(target.interaction_id)
        elif target.interaction_id in self._interactions:
            # No agent took the consultation: it ends as withdrawn, not as a caller's abandon.
            reason = f"consult_{consult.state.value}"
            self._apply(
                self.router.remove_interaction(target.interaction_id, reason, "withdrawn")
            )

    def _publish_consult(self, consult: Consultation, reason: str = "") -> None:
        self.publish(
            ev.ConsultChanged(
                consult_id=consult.consult_id,
                interaction_id=consult.interaction_id,
                agent_id=consult.agent_id,
                call_id=consult.voice.call_id,
                target_kind=consult.target_kind,
                target=consult.target,
                state=consult.state.value,
                target_agent_id=consult.target_agent_id,
                target_interaction_id=consult.target_interaction_id,
                reason=reason,
            )
        )

    def _own_consultation(self, agent_id: str, live: LiveInteraction) -> Consultation:
        if live.consult is None:
            raise DeskError(
                f"interaction {live.interaction_id!r} has no consultation in progress; "
                "start one with a consult transfer",
                "invalid_state",
                agent_id=agent_id,
            )
        return live.consult

    @staticmethod
    def _check_not_consulting(live: LiveInteraction, action: str) -> None:
        if live.consult is not None and live.consult.state in CALLER_HELD_STATES:
            raise DeskError(
                f"the caller of {live.interaction_id!r} is on hold for the consultation with "
                f"{live.consult.target!r}, so it cannot be {action} now; complete or cancel "
                "the consultation first",
                "invalid_state",
                agent_id=live.agent_id,
            )
        if live.consulted_by is not None:
            raise DeskError(
                f"interaction {live.interaction_id!r} is a consultation from agent "
                f"{live.consulted_by.agent_id!r}; it can be {action} once that agent "
                "completes the transfer",
                "invalid_state",
                agent_id=live.agent_id,
            )

    async def end_wrapup(self, agent_id: str, disposition: str, notes: str = "") -> None:
        if disposition not in self._dispositions:
            raise DeskError(
                f"unknown disposition {disposition!r}; use one of {self._dispositions}",
                "invalid",
                agent_id=agent_id,
            )
        interaction_id = self._wrapups.get(agent_id)
        if interaction_id is None:
            raise DeskError(f"agent {agent_id!r} is not in wrap-up", "invalid_state")
        self._dispositions_given[agent_id] = (disposition, notes)
        self._apply(self._router_call(agent_id, lambda: self.router.end_wrapup(agent_id)))

    async def extend_wrapup(self, agent_id: str, seconds: float) -> None:
        self._apply(
            self._router_call(agent_id, lambda: self.router.extend_wrapup(agent_id, seconds))
        )

    async def send_message(self, agent_id: str, interaction_id: str, text: str) -> None:
        live = self._own_interaction(agent_id, interaction_id)
        channel = self._channels.get(live.channel)
        if channel is None:
            raise DeskError(f"{live.channel} interactions take no written replies", "not_supported")
        if not text.strip():
            raise DeskError("the reply is empty; write some text", "invalid", agent_id=agent_id)
        try:
            message_id = await channel.deliver(interaction_id, agent_id, text)
        except DeskError:
            raise
        except Exception as error:
            log.error("reply_failed", interaction_id=interaction_id, error=str(error))
            raise DeskError(f"the reply could not be sent: {error}", "failed") from error
        self.record_message(interaction_id, "out", agent_id, text, message_id=message_id)

    def record_message(
        self,
        interaction_id: str,
        direction: str,
        sender: str,
        text: str,
        *,
        message_id: str = "",
        subject: str = "",
        attachments: list[dict[str, Any]] | None = None,
    ) -> None:
        """Add a message to a written interaction's transcript and publish it.

        The transcript is kept in the interaction's ``messages`` attribute, which the
        agent console shows; the event carries the connected agent's id (if any).
        """
        live = self._interactions.get(interaction_id)
        if live is None:
            log.warning("message_for_unknown_interaction", interaction_id=interaction_id)
            return
        entry = {"direction": direction, "from": sender, "text": text, "subject": subject}
        live.attributes.setdefault("messages", []).append(entry)
        self.publish(
            ev.InteractionMessage(
                interaction_id=interaction_id,
                channel=live.channel,
                direction=direction,
                sender=sender,
                text=text,
                message_id=message_id,
                subject=subject,
                agent_id=live.agent_id,
                attachments=list(attachments or []),
            )
        )

    def register_channel(self, channel: str, adapter: WrittenChannel) -> None:
        """Let agents reply to ``channel`` interactions through ``adapter``."""
        self._channels[channel] = adapter

    # Helpers

    def _router_call(self, agent_id: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except KeyError as error:
            raise DeskError(
                f"unknown agent {agent_id!r}", "not_found", agent_id=agent_id
            ) from error
        except (UnknownAgentError, UnknownInteractionError, UnknownOfferError) as error:
            raise DeskError(str(error), "not_found", agent_id=agent_id) from error
        except AcdError as error:
            message = str(error)
            invalid = message.startswith(INVALID_INPUT_MESSAGES)
            code = "invalid" if invalid else "invalid_state"
            raise DeskError(message, code, agent_id=agent_id) from error

    def _own_offer(self, agent_id: str, offer_id: str) -> d.Offer:
        open_offer = self._offers.get(offer_id)
        if open_offer is None or open_offer.decision.agent_id != agent_id:
            raise DeskError(
                f"offer {offer_id!r} is not open for agent {agent_id!r}",
                "not_found",
                agent_id=agent_id,
            )
        return open_offer.decision

    def _own_interaction(self, agent_id: str, interaction_id: str) -> LiveInteraction:
        live = self._interactions.get(interaction_id)
        if live is None or live.agent_id != agent_id:
            raise DeskError(
                f"interaction {interaction_id!r} is not connected to agent {agent_id!r}",
                "not_found",
                agent_id=agent_id,
            )
        return live

    async def _connector_call(self, agent_id: str, operation: Any) -> None:
        try:
            await operation
        except Exception as error:
            log.error("connector_operation_failed", agent_id=agent_id, error=str(error))
            raise DeskError(f"the call could not be changed: {error}", "failed") from error


def _fields(decision: Any) -> dict[str, Any]:
    return {item.name: getattr(decision, item.name) for item in dataclasses.fields(decision)}


def _consult_control(control: CallControl) -> ConsultControl:
    """Return ``control`` as a ``ConsultControl``; the desk checked its operations first."""
    return cast(ConsultControl, control)


def _consult_view(consult: Consultation) -> dict[str, Any]:
    return {
        "consult_id": consult.consult_id,
        "state": consult.state.value,
        "agent_id": consult.agent_id,
        "interaction_id": consult.interaction_id,
        "target_kind": consult.target_kind,
        "target": consult.target,
        "target_agent_id": consult.target_agent_id,
        "target_interaction_id": consult.target_interaction_id,
    }


def _queue_result(decision: d.InteractionEnded) -> QueueResult:
    if decision.outcome == "answered":
        return QueueResult(outcome="answered")
    if decision.outcome == "overflowed":
        return QueueResult(outcome="overflow", target=decision.overflow_target)
    if decision.outcome == "removed":
        return QueueResult(outcome="no_agents")
    return QueueResult(outcome=decision.outcome)
