"""A scripted Asterisk for tests: an AMI server and FastAGI callers on 127.0.0.1.

It writes the formats of ``manager.c`` and ``res_agi.c`` (Asterisk 13 to 22 with
chan_pjsip) and the event sequences a real Asterisk sends:

- AMI: the banner, ``Login`` (a wrong secret gets ``Authentication failed`` and the
  connection is closed), ``Ping``, lists (``CoreShowChannels``, ``DeviceStateList``) that
  start with ``EventList: start`` and end with ``...Complete``, ``Hangup``, ``Redirect``,
  ``Originate`` with ``Async`` answered later by ``OriginateResponse``; events filtered by
  the login's ``Events:`` mask.
- FastAGI: the 22-line ``agi_*`` header block; replies to each command as a caller
  pressing the scripted keys would get them; ``EXEC Dial`` rings a scripted agent phone
  and emits ``DialBegin`` … ``DialEnd`` and the bridge events; when the caller hangs up,
  the pending command gets ``200 result=-1`` and later ones a ``HANGUP`` line followed by
  ``511``; after ``HANGUP`` the peer writes ``200 result=1`` and then a ``HANGUP`` line.
  Like Asterisk, it never closes the FastAGI socket itself after a hang-up, and the
  caller's ``Hangup`` event is sent only once santral has closed it.

Keys for a caller are strings: ``"1"`` is pressed when the next key is awaited (``WAIT FOR
DIGIT``, ``GET DATA``, the end of ``RECORD FILE``), ``"!1"`` during the next prompt that
accepts it, and ``"~"`` lets one wait time out. Keys in ``after_conversation`` are pressed
when the first prompt plays after an agent answered (the survey), so hold polls keep none.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import shlex
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

BANNER = "Asterisk Call Manager/13.0.0"
DEAD_CHANNEL = "511 Command Not Permitted on a dead channel or intercept routine\n"
USAGE_ERROR = (
    "520-Invalid command syntax.  Proper usage follows:\n"
    " Usage: {usage}\n"
    "520 End of proper usage.\n"
)
EVENT_CLASSES = {
    "Newchannel": "call",
    "Newstate": "call",
    "DialBegin": "call",
    "DialState": "call",
    "DialEnd": "call",
    "BridgeCreate": "call",
    "BridgeEnter": "call",
    "BridgeLeave": "call",
    "BridgeDestroy": "call",
    "HangupRequest": "call",
    "SoftHangupRequest": "call",
    "Hangup": "call",
    "DeviceStateChange": "call",
    "OriginateResponse": "call",
    "FullyBooted": "system",
    "ContactStatus": "system",
    "VarSet": "dialplan",
    "RTCPSent": "reporting",
}

Fields = list[tuple[str, str]]


def _message(fields: Iterable[tuple[str, str]]) -> bytes:
    return ("".join(f"{name}: {value}\r\n" for name, value in fields) + "\r\n").encode()


# AMI


@dataclass
class _AmiConnection:
    writer: asyncio.StreamWriter
    logged_in: bool = False
    classes: frozenset[str] = frozenset()


class AmiServer:
    """The AMI side of the scripted Asterisk."""

    def __init__(self, *, username: str = "santral", secret: str = "secret") -> None:
        self.username = username
        self.secret = secret
        self.actions: list[dict[str, str]] = []
        self.logins = 0
        self.failed_logins = 0
        self.events_sent = 0
        # Every event emitted, as (name, fields), whether or not a login's mask let it out.
        self.emitted: list[tuple[str, Fields]] = []
        self.channels: dict[str, dict[str, str]] = {}
        self.devices: dict[str, str] = {}
        self.peer: AsteriskPeer | None = None
        self._server: asyncio.Server | None = None
        self._connections: list[_AmiConnection] = []

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.port

    async def stop(self) -> None:
        await self.drop_connections()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def drop_connections(self) -> None:
        """Close every AMI connection, as a restarting Asterisk does."""
        for connection in list(self._connections):
            connection.writer.close()
        self._connections.clear()
        await asyncio.sleep(0)

    def emit(self, event: str, fields: Fields) -> None:
        """Send an event to every logged-in connection whose event mask includes its class."""
        self.emitted.append((event, fields))
        event_class = EVENT_CLASSES.get(event, "call")
        data = _message([("Event", event), ("Privilege", f"{event_class},all"), *fields])
        for connection in self._connections:
            if connection.logged_in and event_class in connection.classes:
                connection.writer.write(data)
                self.events_sent += 1

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = _AmiConnection(writer)
        self._connections.append(connection)
        writer.write(f"{BANNER}\r\n".encode())
        try:
            while not writer.is_closing():
                action = await _read_action(reader)
                if action is None:
                    break
                self._handle(connection, action)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            if connection in self._connections:
                self._connections.remove(connection)
            writer.close()

    def _handle(self, connection: _AmiConnection, action: dict[str, str]) -> None:
        name = action.get("action", "").lower()
        recorded = {
            key: ("********" if key == "secret" else value) for key, value in action.items()
        }
        self.actions.append(recorded)
        reply = _Reply(connection.writer, action.get("actionid", ""))
        if name == "login":
            self._login(connection, action, reply)
        elif not connection.logged_in:
            reply.response("Error", "Permission denied")
        else:
            handler = getattr(self, f"_action_{name}", None)
            if handler is None:
                reply.response("Error", "Invalid/unknown command")
            else:
                handler(connection, action, reply)

    def _login(self, connection: _AmiConnection, action: dict[str, str], reply: _Reply) -> None:
        if action.get("username") != self.username or action.get("secret") != self.secret:
            self.failed_logins += 1
            reply.response("Error", "Authentication failed")
            connection.writer.close()
            return
        self.logins += 1
        connection.logged_in = True
        connection.classes = _event_classes(action.get("events", "on"))
        reply.response("Success", "Authentication accepted")
        self.emit(
            "FullyBooted", [("Uptime", "10"), ("LastReload", "10"), ("Status", "Fully Booted")]
        )

    def _action_ping(
        self, connection: _AmiConnection, action: dict[str, str], reply: _Reply
    ) -> None:
        reply.write(
            [("Response", "Success"), ("Ping", "Pong"), ("Timestamp", f"{time.time():.6f}")]
        )

    def _action_logoff(
        self, connection: _AmiConnection, action: dict[str, str], reply: _Reply
    ) -> None:
        reply.response("Goodbye", "Thanks for all the fish.")
        connection.writer.close()

    def _action_coreshowchannels(
        self, connection: _AmiConnection, action: dict[str, str], reply: _Reply
    ) -> None:
        items = [
            [("Event", "CoreShowChannel"), *channel.items()] for channel in self.channels.values()
        ]
        reply.list("Channels will follow", items, "CoreShowChannelsComplete")

    def _action_devicestatelist(
        self, connection: _AmiConnection, action: dict[str, str], reply: _Reply
    ) -> None:
        items = [
            [("Event", "DeviceStateChange"), ("Device", device), ("State", state)]
            for device, state in self.devices.items()
        ]
        reply.list("Device State Changes will follow", items, "DeviceStateListComplete")

    def _action_hangup(
        self, connection: _AmiConnection, action: dict[str, str], reply: _Reply
    ) -> None:
        channel = action.get("channel", "")
        if self.peer is None or not self.peer.hang_up_channel(channel):
            reply.response("Error", "No such channel")
            return
        reply.response("Success", "Channel Hungup")

    def _action_redirect(
        self, connection: _AmiConnection, action: dict[str, str], reply: _Reply
    ) -> None:
        channel = action.get("channel", "")
        target = (action.get("context", ""), action.get("exten", ""))
        if self.peer is None or not self.peer.redirect_channel(channel, *target):
            reply.response("Error", "Channel specified does not exist")
            return
        reply.response("Success", "Redirect successful")

    def _action_mixmonitormute(
        self, connection: _AmiConnection, action: dict[str, str], reply: _Reply
    ) -> None:
        reply.response("Success", "")

    def _action_originate(
        self, connection: _AmiConnection, action: dict[str, str], reply: _Reply
    ) -> None:
        if action.get("async", "").lower() != "true":
            reply.response("Error", "Only Async originates are scripted")
            return
        if self.peer is None:
            reply.response("Error", "Originate failed")
            return
        reply.response("Success", "Originate successfully queued")

        def respond(fields: Fields) -> None:
            action_id = [("ActionID", action.get("actionid", ""))]
            self.emit_to(connection, "OriginateResponse", [*action_id, *fields])

        self.peer.originate(action, respond)

    def emit_to(self, connection: _AmiConnection, event: str, fields: Fields) -> None:
        event_class = EVENT_CLASSES.get(event, "call")
        connection.writer.write(
            _message([("Event", event), ("Privilege", f"{event_class},all"), *fields])
        )


def _event_classes(mask: str) -> frozenset[str]:
    lowered = mask.strip().lower()
    if lowered in ("on", "yes", "true", "all"):
        return frozenset(EVENT_CLASSES.values()) | {"agent", "user"}
    if lowered in ("off", "no", "false", ""):
        return frozenset()
    return frozenset(part.strip() for part in lowered.split(","))


@dataclass
class _Reply:
    writer: asyncio.StreamWriter
    action_id: str

    def write(self, fields: Fields) -> None:
        if self.action_id:
            fields = [fields[0], ("ActionID", self.action_id), *fields[1:]]
        self.writer.write(_message(fields))

    def response(self, status: str, message: str) -> None:
        self.write([("Response", status), ("Message", message)])

    def list(self, message: str, items: list[Fields], complete: str) -> None:
        self.write([("Response", "Success"), ("EventList", "start"), ("Message", message)])
        for item in items:
            self.write(item)
        self.write([("Event", complete), ("EventList", "Complete"), ("ListItems", str(len(items)))])


async def _read_action(reader: asyncio.StreamReader) -> dict[str, str] | None:
    action: dict[str, str] = {}
    for _ in range(256):
        line = await reader.readline()
        if not line:
            return None
        text = line.decode().rstrip("\r\n")
        if not text:
            if action:
                return action
            continue
        name, _, value = text.partition(":")
        action[name.strip().lower()] = value.strip()
    return action


# Agents' phones


@dataclass
class AgentPhone:
    """A scripted agent phone: ``answer``, ``no_answer`` or ``busy`` when rung."""

    endpoint: str
    behaviour: str = "answer"
    answer_after: float = 0.01
    registered: bool = True
    hang_up: asyncio.Event = field(default_factory=asyncio.Event)
    rings: int = 0


# FastAGI callers


@dataclass
class _Leg:
    """One channel. ``place`` is where it is: ``caller`` (a FastAGI caller), ``ringing``,
    ``bridged``, ``parked`` (waiting in a dialplan ``Wait``) or ``gone``."""

    channel: str
    unique_id: str
    endpoint: str = ""
    place: str = "caller"
    # Set when the leg leaves its bridge; ``reason`` is ``hangup`` or ``redirect``.
    left: asyncio.Event = field(default_factory=asyncio.Event)
    reason: str = ""

    def leave(self, reason: str) -> None:
        self.reason = reason
        self.left.set()


class CallerSession:
    """One caller: a FastAGI connection to santral, replying to commands as Asterisk does."""

    def __init__(self, peer: AsteriskPeer, leg: _Leg, keys: Iterable[str], script: str) -> None:
        self.peer = peer
        self.leg = leg
        self.script = script
        self.keys: deque[str] = deque(keys)
        self.commands: list[str] = []
        self.variables: dict[str, str] = {}
        self.hung_up = False
        self.closed_by_santral = asyncio.Event()
        self.hang_up_during_record = False
        self.missing_files: set[str] = set()
        self.agent_leg: _Leg | None = None
        # Keys the caller presses once a conversation ends and the dialplan goes on.
        self.after_conversation: deque[str] = deque()
        self.agent_answered = False
        self._hangup_now = asyncio.Event()
        self._notice_pending = False
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None

    async def hang_up(self) -> None:
        """Hang up the caller now, as a BYE reaching Asterisk does."""
        self.hang_up_now()

    def hang_up_now(self) -> None:
        """Hang up without waiting, as the AMI ``Hangup`` action does."""
        if self.hung_up:
            return
        self.hung_up = True
        self._notice_pending = True
        fields = [("Channel", self.leg.channel), ("Uniqueid", self.leg.unique_id), ("Cause", "16")]
        self.peer.ami_emit("HangupRequest", fields)
        self._hangup_now.set()

    async def finished(self, limit: float = 10.0) -> None:
        """Wait until santral closed the session."""
        assert self._task is not None
        await asyncio.wait_for(asyncio.shield(self._task), limit)

    def start(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, headers: bytes
    ) -> None:
        self._writer = writer
        writer.write(headers)
        self._task = asyncio.create_task(self._run(reader, writer))

    async def _run(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for _ in range(100_000):
                line = await reader.readline()
                if not line:
                    break
                command = line.decode().rstrip("\n")
                self.commands.append(command)
                await self._answer(command)
        except ConnectionError:
            pass
        finally:
            self.closed_by_santral.set()
            writer.close()
            self.peer.caller_session_closed(self)

    def _write(self, text: str) -> None:
        assert self._writer is not None
        if not self._writer.is_closing():
            self._writer.write(text.encode())

    async def _answer(self, command: str) -> None:
        if self.hung_up:
            if self._notice_pending:
                self._write("HANGUP\n")
                self._notice_pending = False
            self._write(DEAD_CHANNEL)
            return
        try:
            words = shlex.split(command)
        except ValueError:
            self._write("510 Invalid or unknown command\n")
            return
        self._write(await self._reply(words))

    async def _reply(self, words: list[str]) -> str:
        upper = [word.upper() for word in words[:3]]
        name = " ".join(upper[:2])
        if upper[:1] == ["ANSWER"]:
            return "200 result=0\n"
        if upper[:1] == ["HANGUP"]:
            return await self._agi_hangup()
        if name in ("STREAM FILE", "SAY DIGITS", "SAY NUMBER", "SAY DATE"):
            if self.agent_answered:
                self.keys.extend(self.after_conversation)
                self.after_conversation.clear()
            return self._prompt(name, words)
        if upper[:3] == ["WAIT", "FOR", "DIGIT"]:
            return await self._wait_for_digit(words)
        if name == "GET DATA":
            return await self._get_data(words)
        if name == "RECORD FILE":
            return await self._record(words)
        if name == "SET VARIABLE" and len(words) == 4:
            self.variables[words[2]] = words[3]
            return "200 result=1\n"
        if name == "GET VARIABLE" and len(words) == 3:
            value = self.variables.get(words[2])
            return "200 result=0\n" if value is None else f"200 result=1 ({value})\n"
        if upper[:1] == ["EXEC"] and len(words) >= 2:
            return await self._exec(words[1], words[2] if len(words) > 2 else "")
        return "510 Invalid or unknown command\n"

    async def _agi_hangup(self) -> str:
        self.hung_up = True
        self.peer.ami_emit(
            "SoftHangupRequest",
            [("Channel", self.leg.channel), ("Uniqueid", self.leg.unique_id), ("Cause", "32")],
        )
        asyncio.get_running_loop().call_later(0.04, self._write, "HANGUP\n")
        return "200 result=1\n"

    def _prompt(self, name: str, words: list[str]) -> str:
        if len(words) < 4:
            return USAGE_ERROR.format(usage=f"{name} <argument> <escape digits>")
        escape = words[3]
        if name == "STREAM FILE" and words[2] in self.missing_files:
            return "200 result=-1 endpos=0\n"
        if self.keys and self.keys[0].startswith("!") and self.keys[0][1:] in escape and escape:
            key = self.keys.popleft()[1:]
            return f"200 result={ord(key)} endpos=2080\n"
        return "200 result=0 endpos=11234\n" if name == "STREAM FILE" else "200 result=0\n"

    async def _wait_for_key(self, seconds: float) -> str | None:
        if self.keys and not self.keys[0].startswith("!"):
            key = self.keys.popleft()
            return None if key == "~" else key
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._hangup_now.wait(), min(seconds, self.peer.wait_cap))
        return None

    async def _wait_for_digit(self, words: list[str]) -> str:
        milliseconds = int(words[3]) if len(words) > 3 and words[3].lstrip("-").isdigit() else -1
        key = await self._wait_for_key(milliseconds / 1000 if milliseconds >= 0 else 3600.0)
        if self.hung_up:
            self._notice_pending = True
            return "200 result=-1\n"
        return f"200 result={ord(key)}\n" if key else "200 result=0\n"

    async def _get_data(self, words: list[str]) -> str:
        maximum = int(words[4]) if len(words) > 4 else 1024
        collected = ""
        for _ in range(maximum):
            key = await self._wait_for_key(5.0)
            if self.hung_up:
                self._notice_pending = True
                return "200 result=-1\n"
            if key is None or key == "#":
                break
            collected += key
        return f"200 result={collected}\n" if collected else "200 result= (timeout)\n"

    async def _record(self, words: list[str]) -> str:
        if self.hang_up_during_record:
            self.hang_up_now()
            self._notice_pending = False
            return "200 result=-1 (hangup) endpos=25280\n"
        key = await self._wait_for_key(1.0)
        if key:
            return f"200 result={ord(key)} (dtmf) endpos=16000\n"
        return "200 result=0 (timeout) endpos=16000\n"

    async def _exec(self, application: str, options: str) -> str:
        if application.lower() == "dial":
            return await self.peer.dial(self, options)
        if application.lower() == "bridge":
            return await self.peer.bridge_application(self, options)
        return "200 result=0\n"

    async def wait_hangup_or(self, event: asyncio.Event, seconds: float) -> str:
        """Wait until the caller hangs up, ``event`` is set, or ``seconds`` pass."""
        waiters = {
            asyncio.ensure_future(self._hangup_now.wait()): "caller",
            asyncio.ensure_future(event.wait()): "event",
        }
        done, pending = await asyncio.wait(
            waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()
        if any(waiters[task] == "caller" for task in done):
            return "caller"
        return "event" if done else "timeout"


class AsteriskPeer:
    """The scripted Asterisk: callers over FastAGI, agent phones, and an optional AMI server."""

    def __init__(
        self, ami: AmiServer | None = None, *, wait_cap: float = 0.02, ring_cap: float = 0.2
    ) -> None:
        self.ami = ami
        if ami is not None:
            ami.peer = self
        self.phones: dict[str, AgentPhone] = {}
        self.callers: list[CallerSession] = []
        self.wait_cap = wait_cap
        self.ring_cap = ring_cap
        self.legs: dict[str, _Leg] = {}
        self._ids = itertools.count(11)
        self._bridges = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()

    def ami_emit(self, event: str, fields: Fields) -> None:
        if self.ami is not None:
            self.ami.emit(event, fields)

    def _new_leg(self, technology_name: str, unique_id: str = "") -> _Leg:
        number = next(self._ids)
        leg = _Leg(f"{technology_name}-{number:08x}", unique_id or f"1733331000.{number}")
        if self.ami is not None:
            self.ami.channels[leg.unique_id] = {
                "Channel": leg.channel,
                "Uniqueid": leg.unique_id,
                "ChannelStateDesc": "Up",
                "Application": "AGI",
            }
        return leg

    def _leg_gone(self, leg: _Leg, cause: str = "16") -> None:
        if self.ami is not None:
            self.ami.channels.pop(leg.unique_id, None)
        self.ami_emit(
            "Hangup",
            [
                ("Channel", leg.channel),
                ("Uniqueid", leg.unique_id),
                ("Cause", cause),
                ("Cause-txt", "Normal Clearing"),
            ],
        )

    # Phones

    def add_phone(
        self, endpoint: str, behaviour: str = "answer", *, registered: bool = True
    ) -> AgentPhone:
        phone = AgentPhone(endpoint, behaviour, registered=registered)
        self.phones[endpoint] = phone
        self._device_state(endpoint, "NOT_INUSE" if registered else "UNAVAILABLE")
        return phone

    def register(self, endpoint: str, registered: bool) -> None:
        """Register the phone (True) or remove its registration (False)."""
        phone = self.phones[endpoint]
        phone.registered = registered
        name = endpoint.split("/", 1)[-1]
        status = "Created" if registered else "Removed"
        self.ami_emit(
            "ContactStatus",
            [
                ("URI", f"sip:{name}@127.0.0.1:5080"),
                ("ContactStatus", status),
                ("AOR", name),
                ("EndpointName", name),
            ],
        )
        self._device_state(endpoint, "NOT_INUSE" if registered else "UNAVAILABLE")

    def _device_state(self, endpoint: str, state: str) -> None:
        if self.ami is not None:
            self.ami.devices[endpoint] = state
        self.ami_emit("DeviceStateChange", [("Device", endpoint), ("State", state)])

    def agent_hangs_up(self, endpoint: str) -> None:
        """Hang up the phone of ``endpoint``: its live call, or the ringing."""
        live = [leg for leg in self.legs.values() if leg.endpoint == endpoint]
        answered = [leg for leg in live if leg.place in ("bridged", "parked")]
        for leg in answered:
            self.hang_up_leg(leg)
        if not answered:
            self.phones[endpoint].hang_up.set()

    def find_leg(self, name: str) -> _Leg | None:
        """Return the live agent or consulted leg with channel name or unique id ``name``."""
        for leg in self.legs.values():
            if name in (leg.channel, leg.unique_id) and leg.place != "gone":
                return leg
        return None

    def hang_up_leg(self, leg: _Leg) -> None:
        """End ``leg``; a bridged leg leaves its bridge, whose owner writes the events."""
        if leg.place == "bridged":
            leg.leave("hangup")
        elif leg.place == "ringing":
            self.phones[leg.endpoint].hang_up.set()
        elif leg.place == "parked":
            self._gone(leg)

    def _gone(self, leg: _Leg, cause: str = "16") -> None:
        leg.place = "gone"
        self.legs.pop(leg.channel, None)
        self._leg_gone(leg, cause)
        if leg.endpoint in self.phones:
            self._device_state(leg.endpoint, "NOT_INUSE")

    # Callers

    async def call(
        self,
        port: int,
        script: str = "ivr?lang=en",
        keys: Iterable[str] = (),
        *,
        caller: str = "5551234",
        dnid: str = "4000",
        arguments: Iterable[str] = (),
    ) -> CallerSession:
        """Open a FastAGI session to santral as ``AGI(agi://127.0.0.1:port/script)`` does."""
        leg = self._new_leg("PJSIP/trunk")
        self.ami_emit(
            "Newchannel",
            [
                ("Channel", leg.channel),
                ("ChannelStateDesc", "Ring"),
                ("Uniqueid", leg.unique_id),
                ("Linkedid", leg.unique_id),
            ],
        )
        session = CallerSession(self, leg, keys, script)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        session.start(
            reader, writer, header_block(leg, script, port, caller, dnid, list(arguments))
        )
        self.callers.append(session)
        return session

    def caller_session_closed(self, session: CallerSession) -> None:
        """santral closed the socket: only now does Asterisk finish the hang-up."""
        if session.hung_up:
            self._leg_gone(session.leg)
        elif self.ami is not None:
            self.ami.channels.pop(session.leg.unique_id, None)

    def hang_up_channel(self, channel: str) -> bool:
        """Carry out AMI ``Hangup`` on ``channel``; False when there is no such channel."""
        for session in self.callers:
            if session.leg.channel == channel and not session.hung_up:
                session.hang_up_now()
                return True
        leg = self.find_leg(channel)
        if leg is None:
            return False
        fields = [("Channel", leg.channel), ("Uniqueid", leg.unique_id), ("Cause", "16")]
        self.ami_emit("SoftHangupRequest", fields)
        self.hang_up_leg(leg)
        return True

    def redirect_channel(self, channel: str, context: str, exten: str) -> bool:
        """Carry out AMI ``Redirect``: a caller leaves santral, an agent leaves its bridge."""
        for session in self.callers:
            if session.leg.channel == channel and not session.hung_up:
                session.variables["REDIRECTED_TO"] = exten
                session.hung_up = True
                session._hangup_now.set()
                return True
        leg = self.find_leg(channel)
        if leg is None:
            return False
        if leg.place == "bridged":
            leg.leave("redirect")
        return True

    def _phone_of(self, channel: str) -> AgentPhone | None:
        for endpoint, phone in self.phones.items():
            if channel.startswith(f"{endpoint}-"):
                return phone
        return None

    async def dial(self, session: CallerSession, options: str) -> str:
        """Run ``Dial(endpoint,seconds,options)`` for ``session`` and return the AGI reply."""
        parts = options.split(",")
        endpoint, seconds = parts[0], float(parts[1]) if len(parts) > 1 and parts[1] else 30.0
        phone = self.phones.get(endpoint)
        if phone is None or not phone.registered:
            session.variables["DIALSTATUS"] = "CHANUNAVAIL"
            return "200 result=0\n"
        phone.rings += 1
        phone.hang_up.clear()
        agent = self._new_leg(endpoint)
        agent.endpoint, agent.place = endpoint, "ringing"
        self.legs[agent.channel] = agent
        session.agent_leg = agent
        self._ring(session.leg, agent, endpoint)
        status = await self._ring_outcome(session, phone, seconds)
        session.variables["DIALSTATUS"] = status
        if status == "ANSWER":
            session.agent_answered = True
            return await self._talk(session, phone, agent)
        session.agent_leg = None
        self._dial_end(session.leg, agent, status)
        self._gone(agent, "17" if status == "BUSY" else "19")
        if status == "CANCEL":
            session._notice_pending = True
            return "200 result=-1\n"
        return "200 result=0\n"

    def _ring(self, caller: _Leg, agent: _Leg, endpoint: str) -> None:
        self.ami_emit(
            "Newchannel",
            [
                ("Channel", agent.channel),
                ("ChannelStateDesc", "Down"),
                ("Uniqueid", agent.unique_id),
                ("Linkedid", caller.unique_id),
            ],
        )
        self.ami_emit(
            "DialBegin",
            [
                ("Channel", caller.channel),
                ("Uniqueid", caller.unique_id),
                ("DestChannel", agent.channel),
                ("DestUniqueid", agent.unique_id),
                ("DialString", endpoint.split("/", 1)[-1]),
            ],
        )
        self.ami_emit(
            "Newstate",
            [
                ("Channel", agent.channel),
                ("ChannelStateDesc", "Ringing"),
                ("Uniqueid", agent.unique_id),
            ],
        )
        self._device_state(endpoint, "RINGING")
        self.ami_emit(
            "DialState",
            [
                ("Channel", caller.channel),
                ("Uniqueid", caller.unique_id),
                ("DestChannel", agent.channel),
                ("DestUniqueid", agent.unique_id),
                ("DialStatus", "RINGING"),
            ],
        )

    async def _ring_outcome(self, session: CallerSession, phone: AgentPhone, seconds: float) -> str:
        if phone.behaviour == "busy":
            return "BUSY"
        limit = (
            min(seconds, self.ring_cap) if phone.behaviour == "no_answer" else phone.answer_after
        )
        outcome = await session.wait_hangup_or(phone.hang_up, limit)
        if outcome == "caller":
            return "CANCEL"
        if outcome == "event" or phone.behaviour == "no_answer":
            return "NOANSWER"
        return "ANSWER"

    def _dial_end(self, caller: _Leg, agent: _Leg, status: str) -> None:
        self.ami_emit(
            "DialEnd",
            [
                ("Channel", caller.channel),
                ("Uniqueid", caller.unique_id),
                ("DestChannel", agent.channel),
                ("DestUniqueid", agent.unique_id),
                ("DialStatus", status),
            ],
        )

    async def _talk(self, session: CallerSession, phone: AgentPhone, agent: _Leg) -> str:
        self.ami_emit(
            "Newstate",
            [("Channel", agent.channel), ("ChannelStateDesc", "Up"), ("Uniqueid", agent.unique_id)],
        )
        self._dial_end(session.leg, agent, "ANSWER")
        self._device_state(phone.endpoint, "INUSE")
        reply = await self._caller_bridged(session, agent)
        session.agent_leg = None
        return reply

    async def bridge_application(self, session: CallerSession, options: str) -> str:
        """Run ``Bridge(channel)`` on the caller: bridge it with a parked channel until one
        leaves. A channel that is not parked gives ``BRIDGERESULT`` NONEXISTENT."""
        other = self.find_leg(options.split(",", 1)[0])
        if other is not None and other.place == "bridged":
            await self._yank(other)
        if other is None or other.place != "parked":
            session.variables["BRIDGERESULT"] = "NONEXISTENT"
            return "200 result=0\n"
        session.variables["BRIDGERESULT"] = "SUCCESS"
        return await self._caller_bridged(session, other)

    async def _yank(self, leg: _Leg) -> None:
        """Take ``leg`` out of its bridge, as ``Bridge()`` does with a bridged channel."""
        leg.leave("redirect")
        for _ in range(100):
            if leg.place != "bridged":
                return
            await asyncio.sleep(0.005)

    async def _caller_bridged(self, session: CallerSession, other: _Leg) -> str:
        """Bridge the caller with ``other`` and return the AGI reply once the bridge ends.

        A hang-up of ``other`` ends it, a redirect parks it (as ``santral-hold`` does), and a
        hang-up of the caller ends both.
        """
        leaver = await self._bridge_until(session.leg, other, session)
        if leaver is session.leg:
            self._gone(other)
            session._notice_pending = True
            return "200 result=-1\n"
        if other.reason == "hangup":
            self._gone(other)
        else:
            other.place = "parked"
        return "200 result=0\n"

    async def _bridge_until(self, first: _Leg, second: _Leg, session: CallerSession | None) -> _Leg:
        """Bridge two legs until one leaves, then dissolve the bridge; return that leg.

        ``first`` is the caller's leg when ``session`` is given; it leaves when the caller
        hangs up.
        """
        bridge = f"bridge-{next(self._bridges)}"
        watched: dict[asyncio.Future[Any], _Leg] = {}
        for leg in (first, second):
            if leg.place != "caller":
                leg.left.clear()
                leg.place = "bridged"
                watched[asyncio.ensure_future(leg.left.wait())] = leg
        if session is not None:
            watched[asyncio.ensure_future(session._hangup_now.wait())] = session.leg
        self.ami_emit("BridgeCreate", [("BridgeUniqueid", bridge), ("BridgeType", "basic")])
        for leg in (second, first):
            self._bridge_event("BridgeEnter", bridge, leg)
        done, pending = await asyncio.wait(
            watched, timeout=3600.0, return_when=asyncio.FIRST_COMPLETED
        )
        for waiter in pending:
            waiter.cancel()
        leaver = watched[next(iter(done))] if done else second
        if session is not None and session.hung_up:
            leaver = session.leg
        stayer = second if leaver is first else first
        for leg in (leaver, stayer):
            self._bridge_event("BridgeLeave", bridge, leg)
        self.ami_emit("BridgeDestroy", [("BridgeUniqueid", bridge)])
        return leaver

    def _bridge_event(self, event: str, bridge: str, leg: _Leg) -> None:
        fields = [("BridgeUniqueid", bridge), ("Channel", leg.channel), ("Uniqueid", leg.unique_id)]
        self.ami_emit(event, fields)

    # Originate: the consulted party

    def originate(self, action: dict[str, str], respond: Callable[[Fields], None]) -> None:
        """Ring the action's channel and send ``OriginateResponse`` (``Async: true``)."""
        task = asyncio.create_task(self._originate(action, respond))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _originate(self, action: dict[str, str], respond: Callable[[Fields], None]) -> None:
        endpoint = action.get("channel", "")
        phone = self.phones.get(endpoint)
        if phone is None or not phone.registered:
            respond(_originate_result(False, "0", endpoint, "<null>"))
            return
        phone.rings += 1
        phone.hang_up.clear()
        leg = self._new_leg(endpoint, action.get("channelid", ""))
        leg.endpoint, leg.place = endpoint, "ringing"
        self.legs[leg.channel] = leg
        new_channel = [("Channel", leg.channel), ("ChannelStateDesc", "Down")]
        self.ami_emit("Newchannel", [*new_channel, ("Uniqueid", leg.unique_id)])
        ringing = [("Channel", leg.channel), ("ChannelStateDesc", "Ringing")]
        self.ami_emit("Newstate", [*ringing, ("Uniqueid", leg.unique_id)])
        self._device_state(endpoint, "RINGING")
        reason = await self._originate_outcome(phone, int(action.get("timeout", "30000")) / 1000)
        if reason != "4":
            self._gone(leg, "17" if reason == "5" else "19")
            respond(_originate_result(False, reason, endpoint, "<null>"))
            return
        self.ami_emit(
            "Newstate",
            [("Channel", leg.channel), ("ChannelStateDesc", "Up"), ("Uniqueid", leg.unique_id)],
        )
        self._device_state(endpoint, "INUSE")
        respond(_originate_result(True, "4", leg.channel, leg.unique_id))
        await self._consulted_dialplan(leg, _variables(action))

    async def _originate_outcome(self, phone: AgentPhone, seconds: float) -> str:
        """Return the ``Reason`` code: 4 answered, 5 busy, 3 rang without answer."""
        if phone.behaviour == "busy":
            return "5"
        if phone.behaviour == "no_answer":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(phone.hang_up.wait(), min(seconds, self.ring_cap))
            return "3"
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(phone.hang_up.wait(), phone.answer_after)
        return "3" if phone.hang_up.is_set() else "4"

    async def _consulted_dialplan(self, leg: _Leg, variables: dict[str, str]) -> None:
        """Run ``Bridge(${SANTRAL_AGENT},F(santral-hold^s^1))`` then ``Wait``.

        When the consulted party hangs up, the agent goes back to its wait (the ``F``
        option). When the agent hangs up, the consulted party waits for the caller.
        """
        agent = self.find_leg(variables.get("SANTRAL_AGENT", ""))
        if agent is None or agent.place != "parked":
            leg.place = "parked"
            return
        leaver = await self._bridge_until(leg, agent, None)
        if leaver is leg:
            if leg.reason == "hangup":
                self._gone(leg)
            else:
                leg.place = "parked"
            agent.place = "parked"
            return
        if agent.reason == "hangup":
            self._gone(agent)
        else:
            agent.place = "parked"
        leg.place = "parked"


def _originate_result(success: bool, reason: str, channel: str, unique_id: str) -> Fields:
    return [
        ("Response", "Success" if success else "Failure"),
        ("Channel", channel),
        ("Context", ""),
        ("Exten", ""),
        ("Reason", reason),
        ("Uniqueid", unique_id),
    ]


def _variables(action: dict[str, str]) -> dict[str, str]:
    name, _, value = action.get("variable", "").partition("=")
    return {name: value} if name else {}


def header_block(
    leg: _Leg, script: str, port: int, caller: str, dnid: str, arguments: list[str]
) -> bytes:
    """Return the FastAGI header block as ``res_agi.c`` writes it (22 lines, then args)."""
    headers = [
        ("network", "yes"),
        ("network_script", script),
        ("request", f"agi://127.0.0.1:{port}/{script}"),
        ("channel", leg.channel),
        ("language", "en"),
        ("type", "PJSIP"),
        ("uniqueid", leg.unique_id),
        ("version", "20.5.0"),
        ("callerid", caller),
        ("calleridname", "Scripted Caller"),
        ("callingpres", "0"),
        ("callingani2", "0"),
        ("callington", "0"),
        ("callingtns", "0"),
        ("dnid", dnid),
        ("rdnis", "unknown"),
        ("context", "from-trunk"),
        ("extension", dnid),
        ("priority", "2"),
        ("enhanced", "0.0"),
        ("accountcode", ""),
        ("threadid", "140245121517248"),
    ]
    headers += [(f"arg_{index}", value) for index, value in enumerate(arguments, start=1)]
    return ("".join(f"agi_{name}: {value}\n" for name, value in headers) + "\n").encode()
