"""The connector's record of one Twilio call between webhooks.

Twilio keeps no state for santral, so every webhook is independent. The connector keeps one
``CallSession`` per CallSid in a store, so another engine process, or this one after a
restart, can take the next webhook of the call. The IVR's own state is kept by the engine.
"""

from __future__ import annotations

import dataclasses
import enum
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

log = structlog.get_logger(__name__)


class CallState(enum.Enum):
    """The stage of a Twilio call on santral's side."""

    IVR = "ivr"  # waiting for the result of the last media action
    QUEUED = "queued"  # in the hold loop, waiting for the ACD
    RINGING_AGENT = "ringing_agent"  # an agent leg rings while the caller stays on hold
    CONNECTED = "connected"  # in the call's conference with an agent
    TRANSFERRED = "transferred"  # handed to another number, the IVR is done
    ENDED = "ended"  # a terminal status arrived; nothing may follow


# Status callbacks may arrive out of order; a call's status only moves up this ranking.
STATUS_RANK = {
    "queued": 0,
    "initiated": 1,
    "ringing": 2,
    "in-progress": 3,
    "completed": 4,
    "busy": 4,
    "failed": 4,
    "no-answer": 4,
    "canceled": 4,
}


@dataclass(frozen=True)
class CallSession:
    """The connector's record of one call, saved after every webhook."""

    call_sid: str
    state: CallState = CallState.IVR
    status: str = "in-progress"
    step: int = 0
    awaits: str = ""
    language: str = "en"
    pending: dict[str, Any] = field(default_factory=dict)  # spec of the awaited Gather/Record
    queue: str = ""
    queued_at: float = 0.0
    announced_at: float = -1.0
    periodic_index: int = 0
    music_part: int = 0
    called: str = ""  # the Twilio number the caller dialed, the caller ID of agent legs
    attempt: str = ""
    leg_result: str = ""  # an AgentLegResult value once the attempt's agent leg is decided
    whisper: str = ""
    agent_sid: str = ""  # CallSid of the agent leg in the conference
    agent_left: bool = False  # the agent leg reported its end; the conference is ending
    conference_sid: str = ""  # SID of the call's conference, once looked up
    consult_attempt: str = ""  # set while a consultation rings or talks
    consult_sid: str = ""  # CallSid of the consulted party's leg
    consult_result: str = ""  # an AgentLegResult value once the consulted leg is decided
    last_request: str = ""
    last_reply: str = ""
    ready_reply: str = ""  # TwiML of a slow IVR step that finished, for the next continue

    def to_dict(self) -> dict[str, Any]:
        # A shallow copy: ``dataclasses.asdict`` deep-copies and costs more than the rest of
        # a webhook. ``pending`` holds only JSON scalars and lists of strings.
        data = {name: getattr(self, name) for name in _FIELD_NAMES}
        data["state"] = self.state.value
        data["pending"] = dict(self.pending)
        return data

    @classmethod
    def new(cls, call_sid: str, **values: Any) -> CallSession:
        """Return a fresh session for ``call_sid``; the fast path of the constructor."""
        values.setdefault("pending", {})  # never share the blank session's dictionary
        return _BLANK.replace(call_sid=call_sid, **values)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallSession:
        values = {name: value for name, value in data.items() if name in _FIELD_SET}
        values["state"] = _STATES.get(values.get("state", "ivr")) or CallState(values["state"])
        if len(values) == len(_FIELD_NAMES):
            return _copy_with(_BLANK, values)
        return cls(**values)

    def moved_to(self, state: CallState, **changes: Any) -> CallSession:
        """Return the session in ``state``; the one place a call's state changes."""
        if state is not self.state:
            log.info(
                "twilio_call_state", call_sid=self.call_sid, old=self.state.value, new=state.value
            )
        return self.replace(state=state, **changes)

    def replace(self, **changes: Any) -> CallSession:
        """Return a copy with ``changes``, as ``dataclasses.replace`` but without ``__init__``.

        Raise ``TypeError`` for a name that is not a field.
        """
        unknown = changes.keys() - _FIELD_SET
        if unknown:
            raise TypeError(f"CallSession has no field {sorted(unknown)[0]!r}")
        return _copy_with(self, changes)


def _copy_with(session: CallSession, changes: dict[str, Any]) -> CallSession:
    # A frozen dataclass sets every field through object.__setattr__ in __init__, which
    # cost more than a whole webhook's session work. The fields are plain attributes in
    # __dict__, so copying that dictionary makes an equal instance.
    copy = object.__new__(CallSession)
    copy.__dict__.update(session.__dict__)
    copy.__dict__.update(changes)
    return copy


_FIELD_NAMES = tuple(item.name for item in dataclasses.fields(CallSession))
_FIELD_SET = frozenset(_FIELD_NAMES)
_STATES = {state.value: state for state in CallState}
_BLANK = CallSession(call_sid="")


class SessionStore(Protocol):
    """Storage for ``CallSession`` records: in memory or in the engine's database."""

    async def load_call_session(self, call_sid: str) -> dict[str, Any] | None: ...

    async def save_call_session(self, call_sid: str, data: dict[str, Any]) -> None: ...


class MemorySessionStore:
    """Sessions in this process only, the oldest dropped past ``max_sessions``."""

    def __init__(self, max_sessions: int = 100_000) -> None:
        self._sessions: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._max_sessions = max_sessions

    async def load_call_session(self, call_sid: str) -> dict[str, Any] | None:
        data = self._sessions.get(call_sid)
        return None if data is None else dict(data)

    async def save_call_session(self, call_sid: str, data: dict[str, Any]) -> None:
        self._sessions[call_sid] = dict(data)
        self._sessions.move_to_end(call_sid)
        while len(self._sessions) > self._max_sessions:
            self._sessions.popitem(last=False)

    def __len__(self) -> int:
        return len(self._sessions)


class KeyValueSessions(Protocol):
    """The engine store's session table (``santral.store.Store`` has this shape)."""

    async def save_session(self, call_id: str, state: dict[str, Any]) -> None: ...

    async def load_session(self, call_id: str) -> dict[str, Any] | None: ...


class EngineSessionStore:
    """Sessions in the engine's store, beside the IVR state, under ``twilio:<CallSid>``.

    NOTE: records of ended calls stay so that late callbacks still find the call ended.
    Only the store's own clean-up of its session table removes them.
    """

    PREFIX = "twilio:"

    def __init__(self, store: KeyValueSessions) -> None:
        self._store = store

    async def load_call_session(self, call_sid: str) -> dict[str, Any] | None:
        return await self._store.load_session(self.PREFIX + call_sid)

    async def save_call_session(self, call_sid: str, data: dict[str, Any]) -> None:
        await self._store.save_session(self.PREFIX + call_sid, data)
