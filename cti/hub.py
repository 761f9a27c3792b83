"""Fan-out of bus events to connected CTI clients, each with its own bounded backlog.

The hub encodes each event once and hands it to every client allowed to see it, without
waiting. A client that keeps up gets the frame straight on its socket, and a client that
lags behind gets it in its backlog. A client whose backlog is full (it stopped reading) is
dropped, so a slow reader never delays the others or the publisher.
"""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import structlog
from aiohttp import WSCloseCode, web

from cti.auth import Principal
from cti.pop import WebhookSender, build_pop
from cti.ports import AgentDesk, InteractionHistory
from cti.settings import CtiSettings
from santral.clock import Clock, SystemClock
from santral.events import (
    Event,
    EventBus,
    InteractionConnected,
    OfferCreated,
    OfferEnded,
    OfferHistoryFound,
)
from santral.tasks import TaskSupervisor

log = structlog.get_logger(__name__)

MESSAGE_VERSION: Final = 1
DAY = 86_400.0
CLOSE_TIMEOUT = 1.0  # seconds to wait for a close handshake before aborting the transport
WRITE_BUFFER_LIMIT = 64 * 1024  # bytes in a transport's buffer before messages queue up
MAX_TRACKED_OFFERS = 10_000  # open offers whose pop is kept; the oldest go first

# Events an agent receives about itself; supervisors get these for every agent and more.
AGENT_EVENTS: Final = frozenset({
    "agent_status_changed", "agent_state_changed", "offer_created", "offer_ended",
    "offer_history_found", "interaction_connected", "interaction_held", "interaction_ended",
    "wrapup_started", "wrapup_ended", "interaction_message", "typing_changed",
    "agent_leg_changed", "endpoint_state_changed", "consult_changed",
})
SUPERVISOR_EVENTS: Final = AGENT_EVENTS | {"interaction_queued", "queue_stats_updated"}
# Events after which queue statistics are checked at once rather than at the next interval.
STATS_EVENTS: Final = frozenset({
    "interaction_queued", "interaction_connected", "interaction_ended", "offer_created",
    "offer_ended", "agent_status_changed", "agent_state_changed",
})


def encode(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), default=str)


def text_frame(payload: bytes) -> bytes:
    """Return an unmasked, uncompressed WebSocket text frame (RFC 6455, section 5.2)."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x81, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x81, 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 127, size)
    return header + payload


@dataclass(frozen=True)
class Outgoing:
    """A message encoded once for every client: its JSON text and its ready WebSocket frame."""

    text: str
    frame: bytes

    @classmethod
    def of(cls, message: dict[str, Any]) -> Outgoing:
        text = encode(message)
        return cls(text, text_frame(text.encode()))


class Client:
    """One connected WebSocket: who it is, its bounded backlog, and the task that drains it.

    A message goes straight to the socket while the client keeps up: nothing is queued and
    the transport's write buffer is under ``WRITE_BUFFER_LIMIT``. Otherwise it waits in the
    backlog, which a writer task drains with aiohttp's flow control. A full backlog marks
    the client overflowed and drops its connection.
    """

    def __init__(self, principal: Principal, ws: web.WebSocketResponse,
                 transport: asyncio.Transport | None, max_backlog: int, *, token: str = ""
                 ) -> None:
        self.principal = principal
        self.token = token  # the credential it connected with, to close it on logout
        self.overflowed = False
        self._backlog: asyncio.Queue[str] = asyncio.Queue(maxsize=max_backlog)
        self._ws = ws
        self._transport = transport
        self._writer: asyncio.Task[None] | None = None

    def push(self, message: Outgoing) -> None:
        """Send or queue ``message`` without waiting; drop the client if its backlog is full."""
        if self.overflowed or self._ws.closed:
            return
        transport = self._transport
        if self._writer is None and transport is not None and not transport.is_closing() and (
            transport.get_write_buffer_size() < WRITE_BUFFER_LIMIT
        ):
            # Frames are written whole and synchronously, like aiohttp's own writes, so
            # they never interleave with its ping, pong or close frames.
            transport.write(message.frame)
            return
        try:
            self._backlog.put_nowait(message.text)
        except asyncio.QueueFull:
            self._overflow()
            return
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(
                self._drain(), name=f"cti_ws_writer_{self.principal.user_id}"
            )

    def _overflow(self) -> None:
        self.overflowed = True
        log.warning("cti_client_backlog_exceeded", user_id=self.principal.user_id,
                    backlog=self._backlog.qsize())
        if self._writer is not None:
            self._writer.cancel()
        # A client that stopped reading would not read a close frame queued behind its
        # backlog either, so the connection is dropped at once.
        if self._transport is not None:
            self._transport.abort()

    async def _drain(self) -> None:
        try:
            while not self._backlog.empty() and not self._ws.closed:
                await self._ws.send_str(self._backlog.get_nowait())
        except ConnectionError:
            return
        finally:
            self._writer = None

    async def stop(self) -> None:
        """Cancel the writer task if one runs and wait for it; the WebSocket handler calls this."""
        writer = self._writer
        if writer is None:
            return
        writer.cancel()
        [outcome] = await asyncio.gather(writer, return_exceptions=True)
        if isinstance(outcome, Exception):
            log.error("cti_ws_writer_failed", user_id=self.principal.user_id, error=repr(outcome))

    async def close(self, code: int, reason: str) -> None:
        """Close the WebSocket; abort the connection if the peer ignores the close frame."""
        try:
            await asyncio.wait_for(self._ws.close(code=code, message=reason.encode()),
                                   CLOSE_TIMEOUT)
        except (TimeoutError, ConnectionError):
            if self._transport is not None:
                self._transport.abort()


@dataclass
class _TrackedOffer:
    interaction_id: str
    pop: dict[str, Any]
    history: list[dict[str, Any]] | None = None


class Hub:
    """Routes bus events to clients and builds the snapshots they start from."""

    def __init__(
        self,
        *,
        bus: EventBus,
        desk: AgentDesk,
        settings: CtiSettings,
        store: InteractionHistory | None = None,
        clock: Clock | None = None,
        webhooks: WebhookSender | None = None,
    ) -> None:
        self._bus = bus
        self._desk = desk
        self._settings = settings
        self._store = store
        self._clock = clock or SystemClock()
        self._webhooks = webhooks
        # Supervisors get every forwarded event; agents only those with their agent id.
        self._supervisors: set[Client] = set()
        self._agents: dict[str, set[Client]] = {}
        self._offers: dict[str, _TrackedOffer] = {}  # open offers by offer id
        self._tasks = TaskSupervisor("cti_hub")
        self.stats_changed = asyncio.Event()  # set on events that may move queue figures
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def last_seq(self) -> int:
        return self._bus.last_seq

    @property
    def client_count(self) -> int:
        return len(self._supervisors) + sum(len(group) for group in self._agents.values())

    @property
    def clients(self) -> frozenset[Client]:
        agents = (client for group in self._agents.values() for client in group)
        return frozenset(self._supervisors).union(agents)

    def start(self) -> None:
        if self._unsubscribe is None:
            self._unsubscribe = self._bus.subscribe(self._on_event)

    async def close(self) -> None:
        """Stop listening to the bus and cancel history look-ups still running."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await self._tasks.close()

    def add(self, client: Client, last_seq: int) -> None:
        """Queue the client's snapshot and register it, in one step with no await between.

        Every event published afterwards has a larger sequence number than the snapshot,
        so the client gets its current state first and then only newer events.
        """
        principal = client.principal
        client.push(Outgoing.of(self.snapshot(principal, last_seq)))
        if principal.is_supervisor:
            self._supervisors.add(client)
        else:
            self._agents.setdefault(principal.agent_id, set()).add(client)
        log.info("cti_client_connected", user_id=principal.user_id, clients=self.client_count)

    def remove(self, client: Client) -> None:
        principal = client.principal
        self._supervisors.discard(client)
        group = self._agents.get(principal.agent_id)
        if group is not None:
            group.discard(client)
            if not group:
                del self._agents[principal.agent_id]
        log.info("cti_client_disconnected", user_id=principal.user_id,
                 overflowed=client.overflowed, clients=self.client_count)

    def snapshot(self, principal: Principal, last_seq: int = 0) -> dict[str, Any]:
        """Return the ``snapshot`` message: the user's current state at the bus's last seq."""
        seq = self._bus.last_seq
        message: dict[str, Any] = {
            "type": "snapshot", "version": MESSAGE_VERSION, "seq": seq, "ts": self._clock.now(),
            "user": principal.to_dict(),
            "restarted": last_seq > seq,  # the engine restarted: sequence numbers began again
            "reason_codes": self._desk.reason_codes(),
            "disposition_codes": self._desk.disposition_codes(),
        }
        if principal.agent_id:
            message["agent"] = self.agent_view(principal.agent_id)
        if principal.is_supervisor:
            message["agents"] = self.agent_views()
            message["queues"] = self._desk.queues()
        return message

    def agent_view(self, agent_id: str) -> dict[str, Any]:
        """Return the desk's view of an agent with its offer's pop as clients see it."""
        return self._with_pop(self._desk.agent_view(agent_id))

    def _with_pop(self, view: dict[str, Any]) -> dict[str, Any]:
        offer = view.get("offer")
        if not offer:
            return view
        tracked = self._offers.get(str(offer.get("offer_id")))
        raw = {**(offer.get("pop") or {}), **(tracked.pop if tracked else {})}
        pop = build_pop(raw, str(offer.get("queue", "")), self._settings)
        if tracked is not None and tracked.history is not None:
            pop["previous_interactions"] = tracked.history
        return {**view, "offer": {**offer, "pop": pop}}

    def _on_event(self, event: Event) -> None:
        self._track(event)
        if event.type in STATS_EVENTS:
            self.stats_changed.set()
        if event.type not in SUPERVISOR_EVENTS:
            return
        recipients = list(self._supervisors)
        agent_id = getattr(event, "agent_id", "")
        if agent_id and event.type in AGENT_EVENTS:
            recipients.extend(self._agents.get(agent_id, ()))
        if not recipients:
            return

        message = Outgoing.of(self.to_message(event))
        for client in recipients:
            client.push(message)

    def to_message(self, event: Event) -> dict[str, Any]:
        """Return the WebSocket message for ``event``; offers carry the masked, linked pop."""
        message = event.to_dict()
        if isinstance(event, OfferCreated):
            message["pop"] = build_pop(event.pop, event.queue, self._settings)
        return message

    def _track(self, event: Event) -> None:
        """Keep the pop and previous contacts of open offers, for snapshots and views."""
        if isinstance(event, OfferCreated):
            self._offers[event.offer_id] = _TrackedOffer(event.interaction_id, event.pop)
            while len(self._offers) > MAX_TRACKED_OFFERS:
                del self._offers[next(iter(self._offers))]
            self._offer_created(event)
        elif isinstance(event, OfferHistoryFound) and event.offer_id in self._offers:
            self._offers[event.offer_id].history = event.interactions
        elif isinstance(event, OfferEnded):
            self._offers.pop(event.offer_id, None)
        elif isinstance(event, InteractionConnected):
            for offer_id, tracked in list(self._offers.items()):
                if tracked.interaction_id == event.interaction_id:
                    del self._offers[offer_id]

    def _offer_created(self, event: OfferCreated) -> None:
        crm = self._settings.crm_pop.get(event.queue)
        if crm is not None and crm.webhook_url and self._webhooks is not None:
            payload = {"event": "offer_created", "offer_id": event.offer_id,
                       "interaction_id": event.interaction_id, "agent_id": event.agent_id,
                       "queue": event.queue, "pop": build_pop(event.pop, event.queue,
                                                              self._settings)}
            self._webhooks.send(crm, payload, offer_id=event.offer_id)
        caller = str(event.pop.get("caller", ""))
        # The call flow may have put the previous contacts in the pop already.
        wanted = "previous_interactions" not in event.pop and self._settings.offer_history_days > 0
        if self._store is not None and caller and wanted:
            self._tasks.spawn(self._look_up_history(event, caller),
                              name=f"cti_history_{event.offer_id}")

    async def _look_up_history(self, event: OfferCreated, caller: str) -> None:
        assert self._store is not None
        days = self._settings.offer_history_days
        since = self._clock.now() - days * DAY
        found = await self._store.previous_interactions(
            caller, since, self._settings.offer_history_limit
        )
        previous = [entry for entry in found if entry.get("interaction_id") != event.interaction_id]
        self._bus.publish(OfferHistoryFound(
            offer_id=event.offer_id, interaction_id=event.interaction_id,
            agent_id=event.agent_id, caller=caller, days=days, interactions=previous,
        ))

    async def close_session(self, token: str, code: int) -> int:
        """Close the WebSockets opened with ``token``; return how many there were."""
        clients = [client for client in self.clients if client.token == token]
        await asyncio.gather(*(client.close(code, "logged out") for client in clients))
        return len(clients)

    def agent_views(self) -> list[dict[str, Any]]:
        """Return every agent's view with its offer's pop as clients see it."""
        return [self._with_pop(view) for view in self._desk.agents()]

    async def close_clients(self) -> None:
        """Close every open WebSocket with 1001 (going away), for the engine's shutdown."""
        clients = list(self.clients)
        await asyncio.gather(
            *(client.close(WSCloseCode.GOING_AWAY, "server shutdown") for client in clients)
        )
