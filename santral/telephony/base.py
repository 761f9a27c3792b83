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
from typing import Protocol


class AgentLegResult(enum.Enum):
    """How an attempt to connect a caller to an agent's endpoint ended."""

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
    """Where an agent answers voice calls: a phone number, SIP URI or Twilio Client id."""

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
        self, call_id: str, agent: AgentEndpoint, timeout: float, whisper: str = ""
    ) -> AgentLegResult:
        """Ring ``agent`` for at most ``timeout`` seconds and bridge the caller on answer."""
        ...

    async def hold(self, call_id: str, on_hold: bool) -> None: ...

    async def transfer(self, call_id: str, target: str) -> None: ...

    async def hangup(self, call_id: str) -> None: ...
