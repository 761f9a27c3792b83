"""The contract between the engine and the telephony connectors.

A connector (Twilio, Asterisk, SIP, virtual) owns the media of its calls. It reports what
callers do to the engine's ``santral.calls.CallService`` and carries out the media actions
the IVR returns. The engine calls back into the connector through ``CallControl`` for what
only the connector can do on a live call: ring and connect an agent, hold, transfer, hang
up. Connectors hold no business rules.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ivr.actions import Action, CallInfo, Event, QueueResult


class AgentLegResult(enum.Enum):
    """The outcome of an attempt to connect a caller to an agent's endpoint."""

    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    DECLINED = "declined"
    FAILED = "failed"
    CALLER_GONE = "caller_gone"

    @property
    def is_miss(self) -> bool:
        """True when the agent missed the offer (it counts toward the missed-offer policy)."""
        return self in (AgentLegResult.NO_ANSWER, AgentLegResult.BUSY, AgentLegResult.DECLINED)


@dataclass(frozen=True)
class AgentEndpoint:
    """The address where an agent takes voice calls: a number, SIP URI or Twilio Client id."""

    agent_id: str
    address: str
    display_name: str = ""


class CallControl(Protocol):
    """Operations the engine asks of the connector that owns a call.

    Each coroutine returns when the operation is done on the platform, raises
    ``santral.errors.ConnectorError`` if the platform refused it, and leaves the call as it
    was if cancelled (an agent leg that was ringing is hung up).
    """

    name: str

    async def connect_agent(
        self, call_id: str, agent: AgentEndpoint, ring_timeout: float, whisper: str = ""
    ) -> AgentLegResult:
        """Ring ``agent`` for at most ``ring_timeout`` seconds and bridge the caller on answer."""
        ...

    async def hold(self, call_id: str, on_hold: bool) -> None: ...

    async def transfer(self, call_id: str, target: str) -> None: ...

    async def hangup(self, call_id: str) -> None: ...


class AgentLegControl(CallControl, Protocol):
    """A connector that can end the agent's leg alone, leaving the caller in the dialplan.

    The engine uses ``hangup_agent`` when an agent hangs up from the console, so the caller
    hears what the dialplan does after the conversation (a survey, a goodbye). Connectors
    without it have the whole call ended by ``hangup``.
    """

    async def hangup_agent(self, call_id: str) -> None: ...


class ConsultControl(CallControl, Protocol):
    """A connector that lets an agent consult a third party before a transfer.

    During a consultation the caller is on hold with music, and the agent talks with the
    consulted party (another agent's endpoint or a number). The agent then completes the
    transfer (the caller is bridged with the consulted party and the agent's leg ends) or
    cancels it (the consulted leg ends and the caller is bridged with the agent again).

    The connector reports two things on its own. If the consulted party hangs up before the
    agent completes or cancels, it bridges the caller back with the agent and calls
    ``CallFlow.consult_leg_ended``. If the agent's leg ends during a consultation, it ends
    the consulted leg too and calls ``CallFlow.agent_leg_ended`` as for any agent hang-up.
    After a completed transfer the consulted party's leg is the call's agent leg: ``hold``,
    ``hangup_agent`` and the leg's end apply to it.
    """

    async def consult(
        self, call_id: str, target: AgentEndpoint, ring_timeout: float
    ) -> AgentLegResult:
        """Hold the caller and ring ``target`` for at most ``ring_timeout`` seconds.

        ``ANSWERED`` means the agent and the target now talk while the caller holds. Any
        other result leaves the caller bridged with the agent again, off hold. For a number,
        ``target.agent_id`` is empty and ``target.address`` is the number or SIP URI.
        """
        ...

    async def complete_consult(self, call_id: str) -> None:
        """Bridge the caller with the consulted party and end the agent's leg."""
        ...

    async def cancel_consult(self, call_id: str) -> None:
        """End the consulted party's leg and bridge the caller with the agent again."""
        ...


@dataclass(frozen=True)
class QueueStatus:
    """The queue status a waiting caller should hear, for connectors to announce.

    ``outcome`` is None while the caller waits; once set, pass it to ``CallFlow.handle``.
    """

    interaction_id: str
    queue: str
    position: int
    estimated_wait: float | None
    waited: float
    announce_position: bool
    announce_wait: bool
    periodic_prompts: tuple[str, ...]
    announce_every: float
    exit_key: str
    outcome: QueueResult | None = None
    agent_connected: bool = False


class CallFlow(Protocol):
    """The engine side of a call, implemented by ``santral.calls.CallService``.

    ``start_call`` and ``handle`` run the IVR until it needs the caller (or leaves the
    IVR) and return media actions only: ``Play``, ``Gather``, ``Record``, ``Transfer``,
    ``Hangup``, ``PauseRecording``, and ``Enqueue`` meaning "the caller now waits in this
    queue". The call's IVR state is saved in the store after every step, so ``handle`` on
    another engine process, or after a restart, continues the call.
    """

    async def start_call(
        self, info: CallInfo, control: CallControl, *, entry: str | None = None
    ) -> list[Action]:
        """Start the IVR for a new call; ``entry`` overrides the DNIS lookup."""
        ...

    async def handle(self, call_id: str, event: Event) -> list[Action]:
        """Feed the result of the last media action; raise ``KeyError`` if the call is unknown."""
        ...

    async def caller_hung_up(self, call_id: str, cause: str = "") -> None:
        """End the call from the caller's side at whatever stage it is (idempotent)."""
        ...

    async def agent_leg_ended(self, call_id: str) -> None:
        """Report that the agent hung up while the caller is still on the line.

        The interaction ends (the agent goes to wrap-up) and the queue result becomes
        ``QueueResult(outcome="answered")``, so the IVR continues, for example with a survey.
        """
        ...

    async def consult_leg_ended(self, call_id: str) -> None:
        """Report that the consulted party hung up before the transfer completed.

        The connector has already bridged the caller with the agent again.
        """
        ...

    async def wait_queue_result(self, call_id: str) -> QueueResult:
        """Wait until the ACD gives the queued call back or its agent conversation ends."""
        ...

    def queue_status(self, call_id: str) -> QueueStatus | None:
        """Return the caller's place in the queue, or None if the call is not queued."""
        ...

    def prompt_file(self, language: str, name: str) -> Path | None:
        """Return the WAV file of a recorded prompt, or None if it is missing."""
        ...


class Connector(Protocol):
    """A telephony connector as the engine runs it."""

    name: str

    async def start(self) -> None:
        """Open listeners and connections; raise ``ConnectorError`` if it cannot run."""
        ...

    async def stop(self) -> None:
        """Close everything; calls in progress are hung up or handed back."""
        ...

    def health(self) -> dict[str, object]:
        """Return a JSON-ready health summary (connected, calls, last error)."""
        ...
