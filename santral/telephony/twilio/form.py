"""Twilio webhook parameters, without I/O: form bodies in, typed records out.

Twilio posts ``application/x-www-form-urlencoded`` bodies (or puts the same parameters in
the query of a GET). Every parser here raises ``WebhookError`` for input Twilio would not
send, and the handlers reply 400 to it, never 500.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from urllib.parse import unquote

from santral.errors import SantralError

MAX_BODY_BYTES = 64 * 1024
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

CALL_SID = re.compile(r"CA[0-9a-f]{32}")
ACCOUNT_SID = re.compile(r"AC[0-9a-f]{32}")
DIGITS = re.compile(r"[0-9*#wW]*")
BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")

CALL_STATUSES = (
    "queued",
    "initiated",
    "ringing",
    "in-progress",
    "completed",
    "busy",
    "failed",
    "no-answer",
    "canceled",
)
TERMINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
DIAL_STATUSES = ("completed", "answered", "busy", "no-answer", "failed", "canceled")


class WebhookError(SantralError):
    """A webhook request is malformed: a missing, invalid or oversized parameter."""


Form = dict[str, list[str]]


def parse_form(body: bytes) -> Form:
    """Decode a form body keeping every value of repeated names, in order.

    Raise ``WebhookError`` for a body over 64 KiB, one that is not UTF-8, a field that is
    not ``name=value``, or a ``%`` not followed by two hex digits (a cut-off body). The
    result equals ``parse_qsl(text, keep_blank_values=True, strict_parsing=True)`` grouped
    by name, but a field without ``+`` or ``%`` skips the decoding step.
    """
    if len(body) > MAX_BODY_BYTES:
        raise WebhookError(f"form body of {len(body)} bytes is over the {MAX_BODY_BYTES} limit")
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError as error:
        raise WebhookError(f"form body is not valid URL-encoded UTF-8: {error}") from None
    form: Form = {}
    if not text:
        return form
    for field in text.split("&"):
        name, separator, value = field.partition("=")
        if not separator:
            raise WebhookError(
                f"form body is not valid URL-encoded UTF-8: bad field {field[:40]!r}"
            )
        form.setdefault(_unquote(name), []).append(_unquote(value))
    return form


def _unquote(text: str) -> str:
    """Decode one form name or value as ``application/x-www-form-urlencoded`` defines it."""
    if text.startswith("%2B"):
        return _unquote_number(text)
    if "+" in text:
        text = text.replace("+", " ")
    if "%" not in text:
        return text
    if BAD_ESCAPE.search(text):
        raise WebhookError(f"form body has an incomplete percent escape in {text[:40]!r}")
    try:
        return unquote(text, encoding="utf-8", errors="strict")
    except UnicodeDecodeError as error:
        raise WebhookError(f"form body is not valid URL-encoded UTF-8: {error}") from None


# Every webhook carries the caller's and the called number twice (From and Caller, To and
# Called), each with an escaped "+", so these are cached. Only values that start like an
# E.164 number are, so no PIN or speech result stays in the cache.
@functools.lru_cache(maxsize=4096)
def _unquote_number(text: str) -> str:
    return "+" + _unquote(text[3:])


def first(form: Form, name: str, default: str = "") -> str:
    """Return the first value of ``name``, or ``default`` when it is absent."""
    values = form.get(name)
    return values[0] if values else default


def required(form: Form, name: str, pattern: re.Pattern[str] | None = None) -> str:
    """Return the value of ``name``; raise ``WebhookError`` if it is missing or malformed."""
    value = first(form, name)
    if not value:
        raise WebhookError(f"parameter {name} is missing")
    if pattern is not None and pattern.fullmatch(value) is None:
        raise WebhookError(f"parameter {name}={value[:40]!r} is malformed")
    return value


def number(form: Form, name: str, default: float = 0.0) -> float:
    """Return ``name`` as a non-negative number; raise ``WebhookError`` if it is not one."""
    value = first(form, name)
    if value == "":
        return default
    try:
        result = float(value)
    except ValueError:
        raise WebhookError(f"parameter {name}={value[:40]!r} is not a number") from None
    if not result >= 0 or result == float("inf"):
        raise WebhookError(f"parameter {name}={value[:40]!r} is out of range")
    return result


@dataclass(frozen=True)
class CallParams:
    """The parameters every voice webhook for a call carries."""

    call_sid: str
    account_sid: str
    caller: str
    called: str
    call_status: str
    direction: str = "inbound"


@dataclass(frozen=True)
class GatherParams:
    """Input collected by a ``<Gather>``. Empty ``digits`` and no speech mean no input."""

    digits: str
    finished_on_key: str
    speech: str
    confidence: float


@dataclass(frozen=True)
class DialParams:
    """The end of a ``<Dial>``, as posted to its action URL."""

    status: str
    dialed_sid: str
    duration: float


@dataclass(frozen=True)
class StatusParams:
    """A status callback; ``sequence`` orders callbacks of one call when Twilio sends it."""

    call_status: str
    sequence: int | None
    duration: float


@dataclass(frozen=True)
class RecordParams:
    """The result of a ``<Record>``."""

    url: str
    duration: float
    digits: str


def parse_call(form: Form) -> CallParams:
    """Read the call parameters; raise ``WebhookError`` if the call or account SID is bad."""
    status = first(form, "CallStatus", "in-progress")
    if status not in CALL_STATUSES:
        raise WebhookError(f"parameter CallStatus={status[:40]!r} is not a Twilio call status")
    return CallParams(
        call_sid=required(form, "CallSid", CALL_SID),
        account_sid=required(form, "AccountSid", ACCOUNT_SID),
        caller=first(form, "From"),
        called=first(form, "To"),
        call_status=status,
        direction=first(form, "Direction", "inbound"),
    )


def parse_gather(form: Form) -> GatherParams:
    """Read a Gather result; a missing and an empty ``Digits`` both mean no key was pressed."""
    digits = first(form, "Digits")
    if DIGITS.fullmatch(digits) is None:
        raise WebhookError(
            f"parameter Digits={digits[:40]!r} contains characters other than keys 0-9, *, #, w"
        )
    confidence = number(form, "Confidence")
    return GatherParams(
        digits=digits,
        finished_on_key=first(form, "FinishedOnKey"),
        speech=first(form, "SpeechResult").strip(),
        confidence=min(confidence, 1.0),
    )


def parse_dial(form: Form) -> DialParams:
    """Read a Dial action request; raise ``WebhookError`` for an unknown ``DialCallStatus``."""
    status = required(form, "DialCallStatus")
    if status not in DIAL_STATUSES:
        raise WebhookError(f"parameter DialCallStatus={status[:40]!r} is not a dial status")
    return DialParams(
        status=status,
        dialed_sid=first(form, "DialCallSid"),
        duration=number(form, "DialCallDuration"),
    )


def parse_status(form: Form) -> StatusParams:
    """Read a status callback; ``CallStatus`` is required there."""
    status = required(form, "CallStatus")
    if status not in CALL_STATUSES:
        raise WebhookError(f"parameter CallStatus={status[:40]!r} is not a Twilio call status")
    sequence = first(form, "SequenceNumber")
    if sequence and not sequence.isdigit():
        raise WebhookError(f"parameter SequenceNumber={sequence[:40]!r} is not a number")
    return StatusParams(
        call_status=status,
        sequence=int(sequence) if sequence else None,
        duration=number(form, "CallDuration"),
    )


def parse_record(form: Form) -> RecordParams:
    """Read a Record action request; no ``RecordingUrl`` means nothing was recorded."""
    return RecordParams(
        url=first(form, "RecordingUrl"),
        duration=number(form, "RecordingDuration"),
        digits=first(form, "Digits"),
    )
