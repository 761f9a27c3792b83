"""The Asterisk Manager Interface wire protocol as plain code: no socket, no event loop.

An AMI connection starts with the banner line ``Asterisk Call Manager/<version>``; then
both sides send messages of ``Key: Value`` lines, each message ending with an empty line.
Rules this module keeps, whatever the Asterisk release:

- ``\\r\\n\\r\\n``, ``\\n\\n`` and ``\\r\\n\\n`` all end a message, and two messages never merge;
- a header may repeat (``ChanVariable`` with ``channelvars``), and every value is kept;
- a message whose first header is ``Event:`` is an event even if it also has ``Response:``
  (``OriginateResponse``);
- the output of the ``Command`` action comes in two formats. Asterisk 13 and older send
  free text after ``Response: Follows`` up to ``--END COMMAND--``, blank lines allowed.
  Asterisk 14 and newer send one ``Output:`` header per line. Both give the same lines;
- what completes an action depends on the action (``ActionTracker``), never on the
  free text of ``Message:``.
"""

from __future__ import annotations

import codecs
import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import methodcaller

from santral.errors import SantralError

END_COMMAND = "--END COMMAND--"
BANNER_PREFIX = "Asterisk Call Manager/"
MAX_PENDING = 4 * 1024 * 1024

# Actions whose reply is a list, and the event that closes the list when an older
# Asterisk omits ``EventList: Complete``.
LIST_ACTIONS: dict[str, str] = {
    "coreshowchannels": "CoreShowChannelsComplete",
    "devicestatelist": "DeviceStateListComplete",
    "status": "StatusComplete",
    "queuestatus": "QueueStatusComplete",
    "queuesummary": "QueueSummaryComplete",
    "pjsipshowcontacts": "ContactListComplete",
    "pjsipshowendpoints": "EndpointListComplete",
    "sippeers": "PeerlistComplete",
    "bridgelist": "BridgeListComplete",
    "extensionstatelist": "ExtensionStateListComplete",
}


_split_header = methodcaller("split", ": ", 1)


class AmiProtocolError(SantralError):
    """The AMI peer sent something that is not AMI, or an action could not be built."""


class MessageKind(enum.Enum):
    EVENT = "event"
    RESPONSE = "response"
    OTHER = "other"


class AmiMessage:
    """One AMI message, parsed lazily from its text block (lines joined by ``\\n``).

    ``output`` contains free-text lines: the body of an old-style ``Command`` reply. The
    message is read-only; headers are parsed on first use and kept, because most events
    are dropped after a look at their name.
    """

    __slots__ = ("_fields", "_folded", "_headers", "_name", "block", "output")

    def __init__(self, block: str, output: tuple[str, ...] = ()) -> None:
        self.block = block
        self.output = output
        self._headers: tuple[tuple[str, str], ...] | None = None
        self._fields: dict[str, str] | None = None
        self._folded: dict[str, str] | None = None
        self._name: str | None = None

    def __repr__(self) -> str:
        return f"AmiMessage({self.block!r})"

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        """Every header in order, repeats included."""
        if self._headers is None:
            pairs = []
            for line in self.block.split("\n"):
                name, _, value = line.partition(":")
                pairs.append((name, value[1:] if value.startswith(" ") else value))
            self._headers = tuple(pairs)
        return self._headers

    @property
    def fields(self) -> dict[str, str]:
        """The first value of each header, by its name as Asterisk spelled it."""
        if self._fields is None:
            lines = self.block.split("\n")
            lines.reverse()
            try:
                self._fields = dict(map(_split_header, lines))
            except ValueError:  # a line without ": " (``Output:`` or free text)
                self._fields = {name: value for name, value in reversed(self.headers)}
        return self._fields

    @property
    def kind(self) -> MessageKind:
        if self.block.startswith("Event:"):
            return MessageKind.EVENT
        if self.block.startswith("Response:"):
            return MessageKind.RESPONSE
        return MessageKind.OTHER

    @property
    def name(self) -> str:
        """The event name (``Hangup``), or ``""`` for a response."""
        if self._name is None:
            if not self.block.startswith("Event:"):
                self._name = ""
            else:
                end = self.block.find("\n")
                self._name = (self.block if end < 0 else self.block[:end])[6:].strip()
        return self._name

    def get(self, name: str, default: str = "") -> str:
        """Return the first value of header ``name`` (any case), or ``default``.

        The exact spelling is found by a substring search in the block, which is much
        cheaper than parsing every header of an event that needs three of them.
        """
        block = self.block
        if block.startswith(name) and block.startswith(": ", len(name)):
            start = len(name) + 2
        else:
            index = block.find(f"\n{name}: ")
            if index < 0:
                return self._get_folded(name, default)
            start = index + len(name) + 3
        end = block.find("\n", start)
        return block[start:] if end < 0 else block[start:end]

    def _get_folded(self, name: str, default: str) -> str:
        if self._folded is None:
            self._folded = {key.lower(): value for key, value in reversed(self.headers)}
        return self._folded.get(name.lower(), default)

    def get_all(self, name: str) -> list[str]:
        """Return every value of header ``name`` in order (repeated headers)."""
        lowered = name.lower()
        return [value for key, value in self.headers if key.lower() == lowered]

    def variables(self) -> list[tuple[str, str]]:
        """Return every ``ChanVariable`` value as (name, value), in order.

        Asterisk 11 writes ``ChanVariable(<channel>): VAR=value``; 12 and newer write
        ``ChanVariable: VAR=value``. Both are read; ``DestChanVariable`` is not included.
        """
        found = []
        for key, value in self.headers:
            if key == "ChanVariable" or key.startswith("ChanVariable("):
                variable, _, content = value.partition("=")
                found.append((variable, content))
        return found

    @property
    def action_id(self) -> str:
        return self.get("ActionID")

    @property
    def success(self) -> bool:
        """True for a response of ``Success``, ``Follows`` or ``Goodbye``, and for events."""
        if self.kind is MessageKind.EVENT:
            return True
        return self.get("Response").lower() in ("success", "follows", "goodbye")

    def output_lines(self) -> list[str]:
        """Return a ``Command`` reply's output lines, from either Asterisk format."""
        if self.output:
            return list(self.output)
        return self.get_all("Output")


@dataclass
class AmiFramer:
    """Incremental reader of an AMI byte stream into messages.

    ``feed`` returns the messages complete so far; the banner line is kept in ``banner``.
    ``replaced_bytes`` counts invalid UTF-8 sequences replaced by U+FFFD, so a caller can
    log them instead of losing them silently.
    """

    expect_banner: bool = True
    banner: str = ""
    replaced_bytes: int = 0
    _pending: str = ""
    _decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")(errors="replace")
    )

    def feed(self, data: bytes) -> list[AmiMessage]:
        text = self._decoder.decode(data)
        if "\ufffd" in text:
            self.replaced_bytes += text.count("\ufffd")
        text = self._pending + text
        if text.endswith("\r"):
            text, self._pending = text[:-1], "\r"
        else:
            self._pending = ""
        text = text.replace("\r\n", "\n")
        if self.expect_banner and not self.banner:
            text = self._take_banner(text)
            if not self.banner:
                self._pending = text + self._pending
                return []
        return self._split(text)

    def _take_banner(self, text: str) -> str:
        end = text.find("\n")
        if end < 0:
            return text
        line = text[:end].strip()
        if not line.startswith(BANNER_PREFIX):
            raise AmiProtocolError(
                f"expected the AMI banner {BANNER_PREFIX!r}…, got {line[:80]!r}; is this port AMI?"
            )
        self.banner = line
        return text[end + 1 :]

    def _split(self, text: str) -> list[AmiMessage]:
        blocks = text.split("\n\n")
        rest = blocks.pop()
        messages: list[AmiMessage] = []
        carry = ""
        for block in blocks:
            if carry:
                carry += "\n\n" + block
                if _ends_command_output(carry):
                    messages.append(_command_output(carry))
                    carry = ""
                continue
            block = block.strip("\n")
            if not block:
                continue
            if block.startswith("Response: Follows"):
                if _ends_command_output(block):
                    messages.append(_command_output(block))
                else:
                    carry = block
                continue
            messages.append(AmiMessage(block))
        if carry:
            rest = carry + "\n\n" + rest
        self._pending = rest + self._pending
        if len(self._pending) > MAX_PENDING:
            raise AmiProtocolError(f"AMI message longer than {MAX_PENDING} bytes")
        return messages


def _ends_command_output(block: str) -> bool:
    return END_COMMAND in block


def _command_output(block: str) -> AmiMessage:
    """Split an old-style ``Response: Follows`` block into headers and output lines."""
    head, _, _ = block.partition(END_COMMAND)
    lines = head.split("\n")
    headers = [lines[0]]
    index = 1
    while index < len(lines) and lines[index].split(":", 1)[0] in ("Privilege", "ActionID"):
        headers.append(lines[index])
        index += 1
    output = lines[index:]
    if output and output[-1] == "":
        output.pop()
    return AmiMessage("\n".join(headers), output=tuple(output))


def format_message(fields: Iterable[tuple[str, str]]) -> bytes:
    """Serialise one message; a value with a line break is rejected (header injection)."""
    lines = []
    for name, value in fields:
        if any(character in name + value for character in "\r\n"):
            raise AmiProtocolError(f"AMI header {name!r} contains a line break")
        lines.append(f"{name}: {value}\r\n")
    return ("".join(lines) + "\r\n").encode()


def format_action(action: str, action_id: str, fields: Sequence[tuple[str, str]] = ()) -> bytes:
    """Serialise an action with its ActionID; repeat a name in ``fields`` to repeat a header."""
    return format_message([("Action", action), ("ActionID", action_id), *fields])


# Completion of actions


@dataclass(frozen=True)
class ActionResult:
    """The messages that answered one action.

    ``response`` is the ``Response:`` message; ``events`` are the list items (or the
    completing event, such as ``OriginateResponse``) in arrival order.
    """

    action: str
    response: AmiMessage
    events: tuple[AmiMessage, ...] = ()

    @property
    def success(self) -> bool:
        """True when the response and any completing event both report success."""
        if not self.response.success:
            return False
        completing = [event for event in self.events if event.name == "OriginateResponse"]
        return all(event.get("Response").lower() == "success" for event in completing)


class _Until(enum.Enum):
    RESPONSE = "response"
    LIST = "list"
    EVENT = "event"


@dataclass
class _Pending:
    action: str
    until: _Until
    event_name: str = ""
    command_id: str = ""
    response: AmiMessage | None = None
    events: list[AmiMessage] = field(default_factory=list)


def _rule_for(action: str, fields: Sequence[tuple[str, str]]) -> _Pending:
    lowered = action.lower()
    values = {name.lower(): value for name, value in fields}
    if lowered == "originate" and values.get("async", "").lower() in ("true", "yes", "1"):
        return _Pending(action, _Until.EVENT, event_name="OriginateResponse")
    if lowered == "agi":
        return _Pending(
            action, _Until.EVENT, event_name="AsyncAGIExec", command_id=values.get("commandid", "")
        )
    if lowered in LIST_ACTIONS:
        return _Pending(action, _Until.LIST, event_name=LIST_ACTIONS[lowered])
    return _Pending(action, _Until.RESPONSE)


@dataclass
class ActionTracker:
    """Matches responses and events to the actions sent, by ActionID.

    ``sent`` registers an action; ``receive`` returns the finished ``ActionResult`` when a
    message completes one, and tells whether the message was part of an action's answer.
    Messages that belong to no pending action are the caller's to dispatch as events.
    """

    _pending: dict[str, _Pending] = field(default_factory=dict)

    def sent(self, action: str, action_id: str, fields: Sequence[tuple[str, str]] = ()) -> None:
        if action_id in self._pending:
            raise AmiProtocolError(f"ActionID {action_id!r} is already pending")
        self._pending[action_id] = _rule_for(action, fields)

    def pending_ids(self) -> list[str]:
        return list(self._pending)

    def forget(self, action_id: str) -> None:
        self._pending.pop(action_id, None)

    def receive(self, message: AmiMessage) -> tuple[bool, tuple[str, ActionResult] | None]:
        """Return (consumed, (action_id, result) or None) for one received message."""
        action_id = message.action_id
        pending = self._pending.get(action_id) if action_id else None
        if pending is None:
            pending = self._match_agi(message)
            if pending is None:
                return False, None
            action_id = next(key for key, value in self._pending.items() if value is pending)
        done = _advance(pending, message)
        if not done or pending.response is None:
            return True, None
        del self._pending[action_id]
        result = ActionResult(pending.action, pending.response, tuple(pending.events))
        return True, (action_id, result)

    def _match_agi(self, message: AmiMessage) -> _Pending | None:
        if message.name not in ("AsyncAGIExec", "AsyncAGI"):
            return None
        command_id = message.get("CommandID")
        for pending in self._pending.values():
            if pending.command_id and pending.command_id == command_id:
                return pending
        return None


def _advance(pending: _Pending, message: AmiMessage) -> bool:
    """Add ``message`` to ``pending``; return True when the action is complete."""
    if message.kind is MessageKind.RESPONSE and pending.response is None:
        pending.response = message
        if not message.success:
            return True
        if message.get("EventList").lower() == "start":
            pending.until = _Until.LIST
        if pending.until is _Until.RESPONSE:
            return True
        return any(_completes(pending, event) for event in pending.events)
    if message.kind is not MessageKind.EVENT:
        return False
    pending.events.append(message)
    return _completes(pending, message)


def _completes(pending: _Pending, message: AmiMessage) -> bool:
    if pending.until is _Until.LIST:
        return message.get("EventList").lower() == "complete" or message.name == pending.event_name
    if message.name == "AsyncAGI":
        return message.get("SubEvent").lower() == "exec"
    return message.name == pending.event_name
