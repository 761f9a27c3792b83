"""IVR media actions carried out as AGI commands on one session.

- ``Play``: one command per prompt (``STREAM FILE``, ``SAY DIGITS``, ``SAY NUMBER``,
  ``SAY DATE``, ``EXEC Wait`` for silence), with every key as an escape digit when the
  caller may barge in.
- ``Gather``: the prompts with barge-in, then ``WAIT FOR DIGIT`` loops whose timeouts
  follow the node's first-digit and inter-digit timeouts (``GET DATA`` has only one
  timeout and a fixed ``#`` terminator, so it cannot express them). ``ivr.dtmf`` decides.
- ``Record``: ``RECORD FILE`` with the finish key, the maximum length and the beep.

Prompt files are looked up by Asterisk as ``<sounds_prefix>/<language>/<name>`` under its
sounds directory, so santral's ``recordings/<language>/*.wav`` must be copied there.
"""

from __future__ import annotations

from datetime import UTC, datetime

import structlog

from ivr.actions import DigitsCollected, Gather, Play, Prompt, Record, RecordingFinished
from ivr.dtmf import DtmfCollector
from santral.clock import Clock
from santral.telephony.asterisk import agi
from santral.telephony.asterisk.agi import ALL_DIGITS, AgiReply
from santral.telephony.asterisk.agi_server import AgiSession
from santral.telephony.asterisk.settings import AsteriskSettings

log = structlog.get_logger(__name__)

# Asterisk records and plays 8 kHz audio, so ``endpos`` counts 8000 samples a second.
SAMPLE_RATE = 8000
# Each wait ends with a key or a timeout, and the collector ends at ``max_digits``. This
# bound only guards against a peer that replies to every wait with a failure.
MAX_KEY_WAITS = 256


def prompt_command(settings: AsteriskSettings, prompt: Prompt, escape_digits: str) -> bytes | None:
    """Return the AGI command that plays ``prompt``, or None if Asterisk cannot say it."""
    if prompt.type == "file":
        return agi.stream_file_command(sound_name(settings, prompt), escape_digits)
    if prompt.type == "digits":
        return agi.say_digits_command(prompt.value, escape_digits)
    if prompt.type == "number" and _is_integer(prompt.value):
        return agi.say_number_command(int(prompt.value), escape_digits)
    if prompt.type == "date":
        return _say_date(prompt.value, escape_digits)
    if prompt.type == "silence":
        return agi.exec_command("Wait", str(float(prompt.value or 0)))
    if prompt.type == "tts" and settings.tts_application:
        return agi.exec_command(settings.tts_application, prompt.value)
    return None


def sound_name(settings: AsteriskSettings, prompt: Prompt) -> str:
    if not settings.sounds_prefix:
        return f"{prompt.language}/{prompt.value}"
    return f"{settings.sounds_prefix}/{prompt.language}/{prompt.value}"


def _is_integer(text: str) -> bool:
    return text.lstrip("-").isdigit()


def _say_date(value: str, escape_digits: str) -> bytes | None:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return agi.say_date_command(int(moment.timestamp()), escape_digits)


async def play_prompts(
    session: AgiSession,
    settings: AsteriskSettings,
    prompts: list[Prompt],
    escape_digits: str,
    *,
    sensitive: bool = False,
) -> str:
    """Play ``prompts`` in order; return the key that interrupted them, or ``""``.

    With ``sensitive`` the replies, which carry the key pressed, are not logged.
    """
    for prompt in prompts:
        line = prompt_command(settings, prompt, escape_digits)
        if line is None:
            log.warning("asterisk_prompt_skipped", prompt_type=prompt.type, value=prompt.value)
            continue
        wait = None if prompt.type == "silence" else 600.0
        reply = await session.send(line, wait=wait, sensitive=sensitive)
        _warn_if_failed(reply, prompt)
        if reply.digit:
            return reply.digit
    return ""


def _warn_if_failed(reply: AgiReply, prompt: Prompt) -> None:
    # STREAM FILE returns result=-1 both for a missing file and for a hang-up. A hang-up
    # shows on the next command (HANGUP notice and 511), so the call goes on here.
    if reply.value == -1 or not reply.ok:
        log.warning("asterisk_prompt_failed", value=prompt.value, status=reply.status)


async def play(session: AgiSession, settings: AsteriskSettings, action: Play) -> None:
    await play_prompts(session, settings, action.prompts, ALL_DIGITS if action.barge_in else "")


async def gather(
    session: AgiSession, settings: AsteriskSettings, action: Gather, clock: Clock
) -> DigitsCollected:
    """Play the prompts and collect keys by the node's timing rules."""
    collector = DtmfCollector(action)
    escape = ALL_DIGITS if action.barge_in else ""
    key = await play_prompts(session, settings, action.prompts, escape, sensitive=action.sensitive)
    if key:
        result = collector.press(key, clock.now())
        if result is not None:
            return result
    collector.prompt_finished(clock.now())
    for _ in range(MAX_KEY_WAITS):
        result = await _wait_for_key(session, collector, clock, action.sensitive)
        if result is not None:
            return result
    log.warning("asterisk_gather_gave_up", keys=len(collector.keys))
    return collector.expire(float("inf")) or DigitsCollected(digits="", reason="no_input")


async def _wait_for_key(
    session: AgiSession, collector: DtmfCollector, clock: Clock, sensitive: bool
) -> DigitsCollected | None:
    deadline = collector.deadline()
    if deadline is None:
        return collector.expire(float("inf"))
    remaining = deadline - clock.now()
    if remaining <= 0:
        return collector.expire(deadline)
    line = agi.wait_for_digit_command(max(1, round(remaining * 1000)))
    reply = await session.send(line, wait=remaining, sensitive=sensitive)
    if reply.digit:
        return collector.press(reply.digit, clock.now())
    if reply.value == 0:
        return collector.expire(max(deadline, clock.now()))
    return None


async def record(
    session: AgiSession, settings: AsteriskSettings, action: Record
) -> RecordingFinished:
    """Record the caller; a hang-up during recording still reports what was recorded."""
    await play_prompts(session, settings, action.prompts, "")
    line = agi.record_file_command(
        f"{settings.recordings_folder}/{action.name}",
        round(action.max_length * 1000),
        escape_digits=action.finish_on_key,
        beep=action.beep,
    )
    reply = await session.send(line, wait=action.max_length, keep_hangup_reply=True)
    return RecordingFinished(
        name=action.name, duration=_seconds(reply), reason=_record_reason(reply)
    )


def _seconds(reply: AgiReply) -> float:
    return (reply.endpos or 0) / SAMPLE_RATE


def _record_reason(reply: AgiReply) -> str:
    if reply.data == "hangup":
        return "hangup"
    if reply.data == "timeout":
        return "max_length"
    if reply.data == "dtmf" or reply.digit:
        return "finish_key"
    return "silence"
