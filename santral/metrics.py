"""Prometheus metrics fed from bus events, served as text at ``GET /metrics``.

Each ``Metrics`` has its own registry, so several engines (or tests) in one process do
not share counters. Gauges follow live state: calls in the IVR, interactions waiting per
queue, agents per state. Counters and histograms follow the ACD outcome of interactions.
The engine sets connector health itself with ``set_connector_health``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from santral import events as ev

CONTENT_TYPE = CONTENT_TYPE_LATEST
WAIT_BUCKETS = (1, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1200, float("inf"))
HANDLE_BUCKETS = (10, 30, 60, 120, 180, 300, 450, 600, 900, 1200, 1800, 3600, float("inf"))
AGENT_STATES = ("logged_out", "not_ready", "idle", "reserved", "busy", "wrap_up")


class StoreCounts(Protocol):
    """The counters of a ``santral.store.Store`` that the metrics export."""

    @property
    def pending(self) -> int: ...

    written: int
    dropped: int


class Metrics:
    """The engine's Prometheus metrics; ``attach(bus)`` keeps them current."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._define_gauges()
        self._define_counters()
        self._in_ivr: set[str] = set()
        self._waiting: dict[str, tuple[str, str, float]] = {}  # interaction -> queue, channel, ts
        self._talking: dict[str, tuple[str, float]] = {}  # interaction -> queue, answered at
        self._agents: dict[str, tuple[str, str]] = {}  # agent -> status, state
        for state in AGENT_STATES:
            self.agents.labels(state=state).set(0)

    def _define_gauges(self) -> None:
        self.calls_in_ivr = Gauge("santral_calls_in_ivr", "Calls now in the IVR.",
                                  registry=self.registry)
        self.waiting = Gauge("santral_queue_waiting", "Interactions waiting in a queue.",
                             ["queue"], registry=self.registry)
        self.agents = Gauge("santral_agents", "Agents per state (logged_out, not_ready, idle,"
                            " reserved, busy, wrap_up).", ["state"], registry=self.registry)
        self.connector_up = Gauge("santral_connector_up", "1 when the connector is healthy.",
                                  ["connector"], registry=self.registry)

    def _define_counters(self) -> None:
        labels = ["queue", "channel"]
        self.offered = Counter("santral_interactions_offered", "Interactions enqueued.",
                               labels, registry=self.registry)
        self.answered = Counter("santral_interactions_answered",
                                "Interactions connected to an agent.", labels,
                                registry=self.registry)
        self.abandoned = Counter("santral_interactions_abandoned",
                                 "Interactions abandoned while queued.", labels,
                                 registry=self.registry)
        self.wait_seconds = Histogram("santral_wait_seconds", "Queue wait until answer or"
                                      " abandon.", ["queue"], buckets=WAIT_BUCKETS,
                                      registry=self.registry)
        self.handle_seconds = Histogram("santral_handle_seconds", "Handle time: answer to end"
                                        " of wrap-up (talk, hold and wrap-up).", ["queue"],
                                        buckets=HANDLE_BUCKETS, registry=self.registry)

    def attach(self, bus: ev.EventBus) -> Callable[[], None]:
        """Subscribe to ``bus`` and return the function that unsubscribes."""
        return bus.subscribe(self.observe)

    def set_connector_health(self, connector: str, healthy: bool) -> None:
        self.connector_up.labels(connector=connector).set(1 if healthy else 0)

    def watch_store(self, store: StoreCounts) -> None:
        """Export the store's pending, written and dropped event counts, read at scrape time."""
        for name, text, read in (
            ("santral_store_pending_events", "Events buffered, not yet written to the store.",
             lambda: store.pending),
            ("santral_store_written_events", "Events written to the store since start.",
             lambda: store.written),
            ("santral_store_dropped_events", "Events the store could not write and dropped.",
             lambda: store.dropped),
        ):
            Gauge(name, text, registry=self.registry).set_function(read)

    def render(self) -> bytes:
        """Return every metric in the Prometheus text format."""
        return generate_latest(self.registry)

    def observe(self, event: ev.Event) -> None:
        """Update the metrics from one event (a bus subscriber; returns at once)."""
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)

    def _call_started(self, event: ev.CallStarted) -> None:
        self._in_ivr.add(event.call_id)
        self.calls_in_ivr.set(len(self._in_ivr))

    def _call_left_ivr(self, event: ev.IvrFinished | ev.CallEnded) -> None:
        self._in_ivr.discard(event.call_id)
        self.calls_in_ivr.set(len(self._in_ivr))

    def _queued(self, event: ev.InteractionQueued) -> None:
        if event.interaction_id in self._waiting:
            self._leave_queue(event.interaction_id)
        self._waiting[event.interaction_id] = (event.queue, event.channel, event.ts)
        self.offered.labels(queue=event.queue, channel=event.channel).inc()
        self.waiting.labels(queue=event.queue).inc()

    def _connected(self, event: ev.InteractionConnected) -> None:
        entry = self._leave_queue(event.interaction_id)
        if entry is None:
            return
        queue, channel, queued_at = entry
        self.answered.labels(queue=queue, channel=channel).inc()
        self.wait_seconds.labels(queue=queue).observe(max(0.0, event.ts - queued_at))
        self._talking[event.interaction_id] = (queue, event.ts)

    def _ended(self, event: ev.InteractionEnded) -> None:
        entry = self._leave_queue(event.interaction_id)
        if entry is None or event.outcome != "abandoned_in_queue":
            return
        queue, channel, queued_at = entry
        self.abandoned.labels(queue=queue, channel=channel).inc()
        self.wait_seconds.labels(queue=queue).observe(max(0.0, event.ts - queued_at))

    def _wrapup_ended(self, event: ev.WrapupEnded) -> None:
        entry = self._talking.pop(event.interaction_id, None)
        if entry is not None:
            queue, answered_at = entry
            self.handle_seconds.labels(queue=queue).observe(max(0.0, event.ts - answered_at))

    def _leave_queue(self, interaction_id: str) -> tuple[str, str, float] | None:
        entry = self._waiting.pop(interaction_id, None)
        if entry is not None:
            self.waiting.labels(queue=entry[0]).dec()
        return entry

    def add_agents(self, agent_ids: Iterable[str]) -> None:
        """Count configured agents as logged out until their first change."""
        for agent_id in agent_ids:
            if agent_id not in self._agents:
                self._agents[agent_id] = ("logged_out", "idle")
                self.agents.labels(state="logged_out").inc()

    def _agent_changed(self, event: ev.AgentStatusChanged | ev.AgentStateChanged) -> None:
        previous = self._agents.get(event.agent_id)
        status, state = previous or ("logged_out", "idle")
        if isinstance(event, ev.AgentStatusChanged):
            status = event.new
        else:
            state = event.new
        self._agents[event.agent_id] = (status, state)
        if previous is not None:
            self.agents.labels(state=_agent_label(*previous)).dec()
        self.agents.labels(state=_agent_label(status, state)).inc()


def _agent_label(status: str, state: str) -> str:
    if status == "logged_out":
        return "logged_out"
    if state != "idle":
        return state
    return "not_ready" if status == "not_ready" else "idle"


_HANDLERS: dict[type[ev.Event], Callable[[Metrics, ev.Event], None]] = {
    ev.CallStarted: Metrics._call_started,  # type: ignore[dict-item]
    ev.IvrFinished: Metrics._call_left_ivr,  # type: ignore[dict-item]
    ev.CallEnded: Metrics._call_left_ivr,  # type: ignore[dict-item]
    ev.InteractionQueued: Metrics._queued,  # type: ignore[dict-item]
    ev.InteractionConnected: Metrics._connected,  # type: ignore[dict-item]
    ev.InteractionEnded: Metrics._ended,  # type: ignore[dict-item]
    ev.WrapupEnded: Metrics._wrapup_ended,  # type: ignore[dict-item]
    ev.AgentStatusChanged: Metrics._agent_changed,  # type: ignore[dict-item]
    ev.AgentStateChanged: Metrics._agent_changed,  # type: ignore[dict-item]
}
