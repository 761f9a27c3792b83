"""Form parsing and Gather results on recorded webhooks and their broken variants."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.actions import DigitsCollected, RecordingFinished, SpeechResult
from santral.telephony.twilio.form import (
    WebhookError,
    parse_call,
    parse_dial,
    parse_form,
    parse_gather,
    parse_record,
    parse_status,
)
from santral.telephony.twilio.ivr_events import gather_event, record_event
from tests.twilio.wire import ACCOUNT_SID, CALL_SID, load

MENU = {"max_digits": 1, "terminator": "#", "complete": []}
ACCOUNT = {"max_digits": 8, "terminator": "#", "complete": []}


def test_voice_webhook_parses() -> None:
    call = parse_call(parse_form(load("voice_inbound.http").body))
    assert call.call_sid == CALL_SID
    assert call.account_sid == ACCOUNT_SID
    assert call.caller == "+447700900123"
    assert call.called == "+442071234567"
    assert call.call_status == "ringing"


def test_digits_with_terminator() -> None:
    result = parse_gather(parse_form(load("gather_digits_terminator.http").body))
    assert gather_event(result, ACCOUNT, empty=False) == DigitsCollected(
        digits="12345", reason="terminator"
    )


def test_empty_digits_mean_no_input() -> None:
    result = parse_gather(parse_form(load("gather_empty_digits.http").body))
    assert gather_event(result, MENU, empty=False) == DigitsCollected(digits="", reason="no_input")


def test_missing_digits_mean_no_input() -> None:
    result = parse_gather(parse_form(load("gather_no_digits.http").body))
    assert result.digits == ""
    assert gather_event(result, MENU, empty=True) == DigitsCollected(digits="", reason="no_input")


def test_speech_result() -> None:
    result = parse_gather(parse_form(load("gather_speech.http").body))
    event = gather_event(result, MENU, empty=False)
    assert event == SpeechResult(text="I want to pay my bill.", confidence=0.91265)


@pytest.mark.parametrize(
    ("digits", "finished", "spec", "reason"),
    [
        ("2", "", MENU, "max_digits"),
        ("12", "", {"max_digits": 4, "terminator": "#", "complete": ["12"]}, "complete"),
        ("123", "", ACCOUNT, "inter_digit_timeout"),
        ("123", "*", {"max_digits": 8, "terminator": "*", "complete": []}, "terminator"),
    ],
)
def test_digits_reason(digits: str, finished: str, spec: dict[str, object], reason: str) -> None:
    body = f"Digits={digits}&FinishedOnKey={finished.replace('#', '%23')}".encode()
    event = gather_event(parse_gather(parse_form(body)), spec, empty=False)
    assert event == DigitsCollected(digits=digits, reason=reason)  # type: ignore[arg-type]


def test_status_callback_parses() -> None:
    status = parse_status(parse_form(load("status_completed.http").body))
    assert status.call_status == "completed"
    assert status.sequence == 0
    assert status.duration == 47.0


def test_dial_no_answer_parses() -> None:
    dial = parse_dial(parse_form(load("dial_no_answer.http").body))
    assert dial.status == "no-answer"
    assert dial.duration == 0.0


def test_record_reasons() -> None:
    spec = {"name": "message", "finish_on_key": "#", "max_length": 60.0}
    done = parse_record(parse_form(b"RecordingUrl=https%3A%2F%2Fx&RecordingDuration=4&Digits=%23"))
    hung = parse_record(
        parse_form(b"RecordingUrl=https%3A%2F%2Fx&RecordingDuration=9&Digits=hangup")
    )
    assert record_event(done, spec, empty=False) == RecordingFinished(
        name="message", duration=4.0, reason="finish_key"
    )
    assert record_event(hung, spec, empty=False).reason == "hangup"  # type: ignore[attr-defined]
    assert record_event(parse_record({}), spec, empty=True).reason == "silence"  # type: ignore[attr-defined]


def test_truncated_body_in_escape_is_rejected() -> None:
    body = load("gather_digits_terminator.http").body
    cut = body[: body.index(b"%23") + 2]
    with pytest.raises(WebhookError, match="percent escape"):
        parse_form(cut)


def test_truncated_body_loses_required_sid() -> None:
    body = load("voice_inbound.http").body
    cut = body[: body.index(b"CallSid=") + len(b"CallSid=CA7b7b")]
    with pytest.raises(WebhookError, match="CallSid"):
        parse_call(parse_form(cut))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\xff\xfe", "not valid URL-encoded"),
        (b"Digits=%ff", "not valid URL-encoded"),
        (b"no-equals-sign", "not valid URL-encoded"),
        (b"x" * (64 * 1024 + 1), "over the"),
    ],
)
def test_malformed_bodies_raise(body: bytes, message: str) -> None:
    with pytest.raises(WebhookError, match=message):
        parse_form(body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"AccountSid=AC" + b"3f" * 16, "CallSid is missing"),
        (b"CallSid=CA123&AccountSid=AC" + b"3f" * 16, "CallSid"),
        (b"CallSid=CA" + b"7b" * 16 + b"&AccountSid=nope", "AccountSid"),
        (
            b"CallSid=CA" + b"7b" * 16 + b"&AccountSid=AC" + b"3f" * 16 + b"&CallStatus=odd",
            "status",
        ),
    ],
)
def test_bad_call_parameters_raise(body: bytes, message: str) -> None:
    with pytest.raises(WebhookError, match=message):
        parse_call(parse_form(body))


@pytest.mark.parametrize(
    "body",
    [b"Digits=12a", b"Confidence=high", b"Confidence=-1", b"Confidence=nan"],
)
def test_bad_gather_parameters_raise(body: bytes) -> None:
    with pytest.raises(WebhookError):
        parse_gather(parse_form(body))


def test_bad_dial_and_status_raise() -> None:
    with pytest.raises(WebhookError):
        parse_dial(parse_form(b"DialCallStatus=maybe"))
    with pytest.raises(WebhookError):
        parse_status(parse_form(b"CallStatus=completed&SequenceNumber=x"))
    with pytest.raises(WebhookError):
        parse_status(parse_form(b""))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_webhook_error(body: bytes) -> None:
    try:
        form = parse_form(body)
        parse_call(form)
        parse_gather(form)
    except WebhookError:
        pass


@settings(max_examples=300)
@given(
    st.dictionaries(st.text(min_size=1, max_size=12), st.lists(st.text(max_size=20), max_size=3))
)
def test_form_parse_matches_parse_qsl(fields: dict[str, list[str]]) -> None:
    pairs = [(name, value) for name, values in fields.items() for value in values]
    text = urlencode(pairs)
    expected: dict[str, list[str]] = {}
    for name, value in parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text)):
        expected.setdefault(name, []).append(value)
    assert parse_form(text.encode()) == expected
