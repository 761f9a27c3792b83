"""IVR events from Twilio's Gather and Record results, without I/O.

Twilio reports what a ``<Gather>`` or ``<Record>`` captured but not why it stopped the way
santral's IVR distinguishes, so the reason is worked out from the action's settings kept
with the call (``pending_spec``).
"""

from __future__ import annotations

from typing import Any

from ivr.actions import (
    Action,
    DigitsCollected,
    DigitsReason,
    Enqueue,
    Event,
    RecordingFinished,
    SpeechResult,
)
from ivr.actions import Gather as GatherAction
from ivr.actions import Record as RecordAction
from santral.telephony.twilio.form import GatherParams, RecordParams


def gather_event(result: GatherParams, spec: dict[str, Any], empty: bool) -> Event:
    """Turn a Gather's request into the IVR event; empty or missing digits mean no input."""
    if result.speech and not empty:
        return SpeechResult(text=result.speech, confidence=result.confidence)
    if empty or not result.digits:
        return DigitsCollected(digits="", reason="no_input")
    return DigitsCollected(digits=result.digits, reason=_digits_reason(result, spec))


def _digits_reason(result: GatherParams, spec: dict[str, Any]) -> DigitsReason:
    if result.finished_on_key and result.finished_on_key == spec.get("terminator", "#"):
        return "terminator"
    if result.digits in spec.get("complete", []):
        return "complete"
    if len(result.digits) >= int(spec.get("max_digits", 1)):
        return "max_digits"
    return "inter_digit_timeout"


def record_event(result: RecordParams, spec: dict[str, Any], empty: bool) -> Event:
    """Turn a Record's request into ``RecordingFinished`` with the reason it stopped."""
    name = str(spec.get("name", ""))
    if empty or not result.url:
        return RecordingFinished(name=name, duration=0.0, reason="silence")
    if result.digits == "hangup":
        reason = "hangup"
    elif result.digits and result.digits in str(spec.get("finish_on_key", "#")):
        reason = "finish_key"
    elif result.duration >= float(spec.get("max_length", 0.0)) > 0:
        reason = "max_length"
    else:
        reason = "silence"
    return RecordingFinished(name=name, duration=result.duration, reason=reason)


def pending_spec(actions: list[Action]) -> dict[str, Any]:
    """Return what the result of the last action needs to become an event (JSON-ready)."""
    last = actions[-1] if actions else None
    if isinstance(last, GatherAction):
        return {
            "max_digits": last.max_digits,
            "terminator": last.terminator,
            "complete": list(last.complete),
        }
    if isinstance(last, RecordAction):
        return {
            "name": last.name,
            "finish_on_key": last.finish_on_key,
            "max_length": last.max_length,
        }
    return {}


def language_of(actions: list[Action]) -> str:
    """Return the language of the last action that names one, or an empty string."""
    for action in reversed(actions):
        if isinstance(action, (GatherAction, Enqueue)):
            return action.language
        prompts = getattr(action, "prompts", None)
        if prompts:
            return str(prompts[-1].language)
    return ""
