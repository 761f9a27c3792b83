"""AMI events of every Asterisk generation mapped to one set of typed events.

Asterisk 12 renamed and reshaped many events; both forms map to the same event here:

| santral event | Asterisk 12 and newer | Asterisk 11 and older |
|---|---|---|
| ``DialStarted`` | ``DialBegin`` | ``Dial`` with ``SubEvent: Begin`` |
| ``DialEnded`` | ``DialEnd`` | ``Dial`` with ``SubEvent: End`` |
| ``BridgeEntered`` | ``BridgeEnter`` | ``Bridge`` (``Link``), ``Link`` |
| ``BridgeLeft`` | ``BridgeLeave`` | ``Bridge`` (``Unlink``), ``Unlink`` |
| ``QueueCallerJoined``/``Left`` | ``QueueCallerJoin``/``QueueCallerLeave`` | ``Join``/``Leave`` |
| ``QueueMemberPaused`` | ``QueueMemberPause`` (13+) | ``QueueMemberPaused`` |
| ``AgentCalled`` | ``Interface``, ``MemberName`` fields | ``AgentCalled``, ``AgentName`` fields |
| ``EndpointRegistration`` | ``ContactStatus`` (PJSIP), ``PeerStatus`` | ``PeerStatus`` |

``ChannelTable`` applies the events to a picture of live channels and phones, which the
connector reads and rebuilds after a reconnect.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from santral.telephony.asterisk.ami import AmiMessage


@dataclass(frozen=True)
class DialStarted:
    caller_unique_id: str
    caller_channel: str
    agent_unique_id: str
    agent_channel: str
    dial_string: str


@dataclass(frozen=True)
class DialEnded:
    """A dial attempt ended: ``status`` is Asterisk's DIALSTATUS (ANSWER, NOANSWER, BUSY…)."""

    caller_unique_id: str
    agent_unique_id: str
    agent_channel: str
    status: str


@dataclass(frozen=True)
class ChannelAnswered:
    unique_id: str
    channel: str


@dataclass(frozen=True)
class ChannelHungUp:
    unique_id: str
    channel: str
    cause: int
    cause_text: str


@dataclass(frozen=True)
class BridgeEntered:
    bridge_id: str
    unique_id: str
    channel: str


@dataclass(frozen=True)
class BridgeLeft:
    bridge_id: str
    unique_id: str
    channel: str


@dataclass(frozen=True)
class DeviceStateChanged:
    """A device's state as ``devicestate.c`` names it: NOT_INUSE, INUSE, UNAVAILABLE…"""

    device: str
    state: str


@dataclass(frozen=True)
class EndpointRegistration:
    """A phone registered (``registered`` True) or went away."""

    endpoint: str
    registered: bool
    status: str


@dataclass(frozen=True)
class QueueCallerJoined:
    queue: str
    unique_id: str
    channel: str
    position: int


@dataclass(frozen=True)
class QueueCallerLeft:
    queue: str
    unique_id: str
    channel: str
    position: int


@dataclass(frozen=True)
class QueueMemberPaused:
    queue: str
    interface: str
    member_name: str
    paused: bool
    reason: str


@dataclass(frozen=True)
class AgentCalled:
    queue: str
    interface: str
    member_name: str
    caller_unique_id: str


@dataclass(frozen=True)
class OriginateResult:
    action_id: str
    success: bool
    reason: int
    unique_id: str
    channel: str


@dataclass(frozen=True)
class FullyBooted:
    pass


@dataclass(frozen=True)
class ChannelListed:
    """One live channel from a ``CoreShowChannels`` list."""

    unique_id: str
    channel: str
    state: str
    application: str
    bridge_id: str


AsteriskEvent = (
    DialStarted
    | DialEnded
    | ChannelAnswered
    | ChannelHungUp
    | BridgeEntered
    | BridgeLeft
    | DeviceStateChanged
    | EndpointRegistration
    | QueueCallerJoined
    | QueueCallerLeft
    | QueueMemberPaused
    | AgentCalled
    | OriginateResult
    | FullyBooted
    | ChannelListed
)


def _int(text: str, default: int = 0) -> int:
    try:
        return int(text)
    except ValueError:
        return default


def _unique_id(message: AmiMessage) -> str:
    return message.get("Uniqueid")


def _dial_begin(message: AmiMessage) -> list[AsteriskEvent]:
    return [
        DialStarted(
            caller_unique_id=_unique_id(message),
            caller_channel=message.get("Channel"),
            agent_unique_id=message.get("DestUniqueid"),
            agent_channel=message.get("DestChannel"),
            dial_string=message.get("DialString"),
        )
    ]


def _dial_end(message: AmiMessage) -> list[AsteriskEvent]:
    return [
        DialEnded(
            caller_unique_id=_unique_id(message),
            agent_unique_id=message.get("DestUniqueid"),
            agent_channel=message.get("DestChannel"),
            status=message.get("DialStatus").upper(),
        )
    ]


def _dial_old(message: AmiMessage) -> list[AsteriskEvent]:
    sub_event = message.get("SubEvent").lower()
    if sub_event == "begin":
        return [
            DialStarted(
                caller_unique_id=_unique_id(message),
                caller_channel=message.get("Channel"),
                agent_unique_id=message.get("DestUniqueID"),
                agent_channel=message.get("Destination"),
                dial_string=message.get("Dialstring"),
            )
        ]
    if sub_event == "end":
        return [DialEnded(_unique_id(message), "", "", message.get("DialStatus").upper())]
    return []


def _new_state(message: AmiMessage) -> list[AsteriskEvent]:
    state = message.get("ChannelStateDesc") or message.get("State")
    if state.lower() != "up":
        return []
    return [ChannelAnswered(_unique_id(message), message.get("Channel"))]


def _hangup(message: AmiMessage) -> list[AsteriskEvent]:
    cause = _int(message.get("Cause"))
    return [
        ChannelHungUp(_unique_id(message), message.get("Channel"), cause, message.get("Cause-txt"))
    ]


def _bridge_enter(message: AmiMessage) -> list[AsteriskEvent]:
    bridge = message.get("BridgeUniqueid")
    return [BridgeEntered(bridge, _unique_id(message), message.get("Channel"))]


def _bridge_leave(message: AmiMessage) -> list[AsteriskEvent]:
    bridge = message.get("BridgeUniqueid")
    return [BridgeLeft(bridge, _unique_id(message), message.get("Channel"))]


def _bridge_old(message: AmiMessage, linked: bool) -> list[AsteriskEvent]:
    first, second = message.get("Uniqueid1"), message.get("Uniqueid2")
    bridge = f"{first}+{second}"
    pairs = ((first, message.get("Channel1")), (second, message.get("Channel2")))
    if linked:
        return [BridgeEntered(bridge, unique_id, channel) for unique_id, channel in pairs]
    return [BridgeLeft(bridge, unique_id, channel) for unique_id, channel in pairs]


def _bridge_state(message: AmiMessage) -> list[AsteriskEvent]:
    return _bridge_old(message, message.get("Bridgestate").lower() == "link")


def _device_state(message: AmiMessage) -> list[AsteriskEvent]:
    return [DeviceStateChanged(message.get("Device"), message.get("State").upper())]


_REGISTERED = {"registered", "reachable", "created", "updated", "nonqualified", "lagged"}


def _peer_status(message: AmiMessage) -> list[AsteriskEvent]:
    status = message.get("PeerStatus")
    return [EndpointRegistration(message.get("Peer"), status.lower() in _REGISTERED, status)]


def _contact_status(message: AmiMessage) -> list[AsteriskEvent]:
    status = message.get("ContactStatus")
    endpoint = message.get("EndpointName") or message.get("AOR")
    return [EndpointRegistration(f"PJSIP/{endpoint}", status.lower() in _REGISTERED, status)]


def _queue_caller(message: AmiMessage, joined: bool) -> list[AsteriskEvent]:
    queue, position = message.get("Queue"), _int(message.get("Position"))
    event_type = QueueCallerJoined if joined else QueueCallerLeft
    return [event_type(queue, _unique_id(message), message.get("Channel"), position)]


def _member_paused(message: AmiMessage) -> list[AsteriskEvent]:
    interface = message.get("Interface") or message.get("Location")
    reason = message.get("PausedReason") or message.get("Reason")
    paused = message.get("Paused") in ("1", "true", "yes")
    return [
        QueueMemberPaused(
            message.get("Queue"), interface, message.get("MemberName"), paused, reason
        )
    ]


def _agent_called(message: AmiMessage) -> list[AsteriskEvent]:
    interface = message.get("Interface") or message.get("AgentCalled")
    member = message.get("MemberName") or message.get("AgentName")
    return [AgentCalled(message.get("Queue"), interface, member, _unique_id(message))]


def _originate(message: AmiMessage) -> list[AsteriskEvent]:
    success = message.get("Response").lower() == "success"
    reason = _int(message.get("Reason"))
    return [
        OriginateResult(
            message.action_id, success, reason, _unique_id(message), message.get("Channel")
        )
    ]


def _channel_listed(message: AmiMessage) -> list[AsteriskEvent]:
    return [
        ChannelListed(
            unique_id=_unique_id(message),
            channel=message.get("Channel"),
            state=message.get("ChannelStateDesc"),
            application=message.get("Application"),
            bridge_id=message.get("BridgeId") or message.get("BridgedUniqueid"),
        )
    ]


_NORMALISERS: dict[str, Callable[[AmiMessage], list[AsteriskEvent]]] = {
    "DialBegin": _dial_begin,
    "DialEnd": _dial_end,
    "Dial": _dial_old,
    "Newstate": _new_state,
    "Hangup": _hangup,
    "BridgeEnter": _bridge_enter,
    "BridgeLeave": _bridge_leave,
    "Bridge": _bridge_state,
    "Link": lambda message: _bridge_old(message, True),
    "Unlink": lambda message: _bridge_old(message, False),
    "DeviceStateChange": _device_state,
    "PeerStatus": _peer_status,
    "ContactStatus": _contact_status,
    "QueueCallerJoin": lambda message: _queue_caller(message, True),
    "Join": lambda message: _queue_caller(message, True),
    "QueueCallerLeave": lambda message: _queue_caller(message, False),
    "Leave": lambda message: _queue_caller(message, False),
    "QueueMemberPause": _member_paused,
    "QueueMemberPaused": _member_paused,
    "AgentCalled": _agent_called,
    "OriginateResponse": _originate,
    "FullyBooted": lambda message: [FullyBooted()],
    "CoreShowChannel": _channel_listed,
}

# The event classes santral requests in the login's ``Events:`` mask: ``call`` (channels,
# dials, bridges, hang-ups, DeviceStateChange), ``system`` (FullyBooted, PeerStatus,
# ContactStatus) and ``agent`` (queue members). ``dialplan`` (VarSet, Newexten) and
# ``reporting`` (RTCPSent) stay off.
EVENT_MASK = "call,system,agent"

# Events that are frequent and unused: dropped before normalising.
NOISE = frozenset({"VarSet", "RTCPSent", "RTCPReceived", "Newexten", "AGIExecStart", "AGIExecEnd"})


def normalise(message: AmiMessage) -> list[AsteriskEvent]:
    """Return the santral events for one AMI event (none for events santral ignores)."""
    handler = _NORMALISERS.get(message.name)
    return handler(message) if handler is not None else []


@dataclass
class Channel:
    unique_id: str
    name: str
    up: bool = False
    bridge_id: str = ""


@dataclass
class ChannelTable:
    """Live channels and devices as the AMI events describe them.

    ``apply`` updates the table from one event; ``replace_channels`` rebuilds it from a
    ``CoreShowChannels`` list after a reconnect and returns the unique ids that vanished.
    """

    channels: dict[str, Channel] = field(default_factory=dict)
    devices: dict[str, str] = field(default_factory=dict)
    registered: dict[str, bool] = field(default_factory=dict)
    dials: dict[str, str] = field(default_factory=dict)
    applied: int = 0

    def apply(self, event: AsteriskEvent) -> None:
        self.applied += 1
        if isinstance(event, ChannelHungUp):
            self.channels.pop(event.unique_id, None)
            self.dials.pop(event.unique_id, None)
        elif isinstance(event, DialStarted):
            self._channel(event.caller_unique_id, event.caller_channel)
            self._channel(event.agent_unique_id, event.agent_channel)
            self.dials[event.caller_unique_id] = event.agent_unique_id
        elif isinstance(event, ChannelAnswered):
            self._channel(event.unique_id, event.channel).up = True
        elif isinstance(event, BridgeEntered):
            self._channel(event.unique_id, event.channel).bridge_id = event.bridge_id
        elif isinstance(event, BridgeLeft):
            self._channel(event.unique_id, event.channel).bridge_id = ""
        elif isinstance(event, DeviceStateChanged):
            self.devices[event.device] = event.state
        elif isinstance(event, EndpointRegistration):
            self.registered[event.endpoint] = event.registered

    def _channel(self, unique_id: str, name: str) -> Channel:
        channel = self.channels.get(unique_id)
        if channel is None:
            channel = self.channels[unique_id] = Channel(unique_id, name)
        return channel

    def replace_channels(self, listed: list[ChannelListed]) -> set[str]:
        alive = {item.unique_id for item in listed}
        vanished = set(self.channels) - alive
        self.channels = {
            item.unique_id: Channel(
                item.unique_id, item.channel, item.state.lower() == "up", item.bridge_id
            )
            for item in listed
        }
        self.dials = {caller: agent for caller, agent in self.dials.items() if caller in alive}
        return vanished
