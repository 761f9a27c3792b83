"""State of the call legs the SIP connector owns: the caller's and the agent's."""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from dataclasses import dataclass, field

import structlog

from ivr.actions import CallInfo
from santral.telephony.sip.media import RtpLeg
from santral.telephony.sip.pyvoip_fixes import SantralSIPClient, SantralSIPMessage
from santral.telephony.sip.sdp import MediaDescription

log = structlog.get_logger(__name__)


class LegState(enum.Enum):
    """The stage of a call leg; only the legs' ``transition`` methods change it."""

    RINGING = "ringing"  # inbound INVITE received, or outbound INVITE sent
    ANSWERED = "answered"
    ENDED = "ended"


class CallerGone(Exception):
    """The caller hung up while the connector waited for media or the engine."""


@dataclass
class CallerLeg:
    """An inbound call: its INVITE, dialog, media and the keys pressed so far."""

    info: CallInfo
    invite: SantralSIPMessage
    client: SantralSIPClient
    rtp: RtpLeg
    port: int
    offer: MediaDescription
    session_id: int
    state: LegState = LegState.RINGING
    last_response: str = ""
    sdp_version: int = 1
    keys: deque[str] = field(default_factory=deque)
    key_arrived: asyncio.Event = field(default_factory=asyncio.Event)
    hung_up: asyncio.Event = field(default_factory=asyncio.Event)
    acknowledged: asyncio.Event = field(default_factory=asyncio.Event)
    agent: AgentLeg | None = None
    consultation: Consultation | None = None

    @property
    def call_id(self) -> str:
        return self.info.call_id

    def transition(self, new: LegState) -> None:
        if new is self.state:
            return
        log.info("caller_leg_state", call_id=self.call_id, old=self.state.value, new=new.value)
        self.state = new
        if new is LegState.ENDED:
            self.hung_up.set()
            self.rtp.close()

    def key_pressed(self, key: str) -> None:
        log.info("key_pressed", call_id=self.call_id)
        self.keys.append(key)
        self.key_arrived.set()


@dataclass
class AgentLeg:
    """An outbound call to an agent's phone (or a transfer target) for one caller."""

    sip_call_id: str
    caller_call_id: str
    client: SantralSIPClient
    port: int
    rtp: RtpLeg | None = None
    state: LegState = LegState.RINGING
    final: asyncio.Future[SantralSIPMessage] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    ack: str = ""
    invite: str = ""
    responded: asyncio.Event = field(default_factory=asyncio.Event)
    ringing: bool = False
    cancelled: bool = False
    transfer: bool = False
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    def transition(self, new: LegState) -> None:
        if new is self.state:
            return
        log.info(
            "agent_leg_state",
            call_id=self.caller_call_id,
            sip_call_id=self.sip_call_id,
            old=self.state.value,
            new=new.value,
        )
        self.state = new
        if new is LegState.ENDED:
            self.ended.set()
            if self.rtp is not None:
                self.rtp.close()


@dataclass
class Consultation:
    """A consult transfer in progress: the agent talks with a third party, the caller waits.

    ``abort`` is set when the consultation ends before the third party answers (the agent
    hung up, or the engine cancelled it), so the ringing INVITE is cancelled.
    """

    agent: AgentLeg
    abort: asyncio.Event = field(default_factory=asyncio.Event)
    leg: AgentLeg | None = None  # the consulted party's leg, once it answers
