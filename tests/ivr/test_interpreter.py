"""The interpreter: each node kind, JSON state, and sensitive values kept out of outputs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from ivr import interpreter
from ivr.actions import (
    CallerHangup,
    CallInfo,
    DigitsCollected,
    Enqueue,
    Gather,
    Hangup,
    HttpRequest,
    HttpResult,
    PauseRecording,
    Play,
    PromptFinished,
    QueueResult,
    Record,
    RecordingFinished,
    SetVariables,
    SurveyAnswer,
    Transfer,
    event_from_dict,
)
from ivr.dialplans import DialplanSet
from ivr.loader import load_dialplans
from ivr.settings import IvrSettings
from santral.clock import VirtualClock

Write = Callable[[str, str], Path]
CALL = CallInfo(call_id="c1", caller="+905321112233", called="100")


@pytest.fixture
def load(write: Write, settings: IvrSettings) -> Callable[[str], DialplanSet]:
    def load_text(text: str) -> DialplanSet:
        write("flow.yaml", text)
        return load_dialplans(settings.dialplans, settings, environment={"CRM_TOKEN": "s3cret"})

    return load_text


def roundtrip(state: dict) -> dict:
    """Store and reload the state as a webhook connector would."""
    return json.loads(json.dumps(state))


SECURE = """
    start: card
    sensitive: [pin]
    nodes:
      card:
        kind: input
        variable: card
        prompt: {tts: Card number}
        min_digits: 16
        max_digits: 16
        luhn: true
        sensitive: true
        confirm:
          prompt: {tts: You entered}
          instructions: {tts: Press 1 if correct}
        next: copy
      copy: {kind: set, variables: {card_copy: "{{ card }}", plain: "x{{ caller }}"}, next: dip}
      dip:
        kind: http
        method: POST
        url: "http://127.0.0.1:9/cards/{{ card }}"
        headers: {Authorization: {env: CRM_TOKEN}, X-Caller: "{{ caller }}"}
        body: {card: "{{ card }}"}
        assign: {pin: card.pin, holder: card.holder}
        next: queue
      queue: {kind: queue, queue: cards, attributes: [card, holder, pin]}
"""
CARD = "4111111111111111"


def test_sensitive_input_is_sealed_and_masked(load, clock: VirtualClock) -> None:
    dialplans = load(SECURE)
    state, actions = interpreter.start(dialplans, CALL, clock, "flow")
    assert actions[0] == PauseRecording(paused=True)
    assert isinstance(actions[1], Gather) and actions[1].sensitive

    state, actions = interpreter.handle(
        dialplans, roundtrip(state), DigitsCollected(digits=CARD, reason="max_digits"), clock
    )
    confirm = actions[-1]
    assert isinstance(confirm, Gather) and confirm.sensitive
    assert CARD in [prompt.value for prompt in confirm.prompts]
    assert CARD not in json.dumps(state)

    state, actions = interpreter.handle(
        dialplans, roundtrip(state), DigitsCollected(digits="1", reason="complete"), clock
    )

    request = next(action for action in actions if isinstance(action, HttpRequest))
    assert request.url == f"http://127.0.0.1:9/cards/{CARD}"
    assert request.body == {"card": CARD}
    assert request.headers == {"Authorization": "s3cret", "X-Caller": "+905321112233"}
    assert CARD not in request.display_url
    assert PauseRecording(paused=False) in actions
    published = [action for action in actions if isinstance(action, SetVariables)]
    assert CARD not in json.dumps([action.to_dict() for action in published])
    assert {"card": "************1111"} in [action.variables for action in published]
    assert state["variables"]["card_copy"] == "************1111"
    assert state["variables"]["plain"] == "x+905321112233"
    assert CARD not in json.dumps(state)
    assert "s3cret" not in json.dumps(state)


def test_sensitive_reply_field_stays_masked(load, clock: VirtualClock) -> None:
    dialplans = load(SECURE)
    state, _ = interpreter.start(dialplans, CALL, clock, "flow")
    for digits in (CARD, "1"):
        state, actions = interpreter.handle(
            dialplans, state, DigitsCollected(digits=digits, reason="complete"), clock
        )
    request = actions[-1]
    assert isinstance(request, HttpRequest)

    reply = HttpResult(
        request_id=request.request_id, status=200, body={"card": {"pin": "4321", "holder": "Ada"}}
    )
    state, actions = interpreter.handle(dialplans, state, reply, clock)

    enqueue = actions[-1]
    assert isinstance(enqueue, Enqueue)
    assert enqueue.attributes == {"card": "************1111", "holder": "Ada", "pin": "****"}
    assert "4321" not in json.dumps(state)


def test_invalid_luhn_is_retried(load, clock: VirtualClock) -> None:
    dialplans = load(SECURE)
    state, _ = interpreter.start(dialplans, CALL, clock, "flow")

    state, actions = interpreter.handle(
        dialplans, state, DigitsCollected(digits="4111111111111112", reason="max_digits"), clock
    )

    assert isinstance(actions[-1], Gather)
    assert state["tries"] == {"invalid": 1}
    assert state["step"] == "input"


FLOW = """
    start: greet
    variables: {tier: gold}
    nodes:
      greet:
        kind: say
        text: {en: "Hello {{ caller }}", tr: "Merhaba {{ caller }}"}
        next: pick
      pick:
        kind: branch
        conditions:
          - {if: "tier in ['gold', 'platinum'] and not vip", target: to_tr}
        else: bye
      to_tr: {kind: language, language: tr, next: say_date}
      say_date: {kind: say, date: "2026-12-07", next: rec}
      rec:
        kind: record
        prompt: {tts: Speak}
        max_length: 30s
        name: "vm-{{ call_id }}"
        variable: message
        next: survey
      survey:
        kind: survey
        question: csat
        prompt: {tts: Rate us}
        tries: 2
        next: out
      out: {kind: transfer, target: "sip:desk@127.0.0.1"}
      bye: {kind: hangup, reason: done}
"""


def test_flow_through_many_kinds(load, clock: VirtualClock) -> None:
    dialplans = load(FLOW)

    state, actions = interpreter.start(dialplans, CALL, clock, "flow")
    play = actions[-1]
    assert isinstance(play, Play)
    assert play.prompts[0].value == "Hello +905321112233"

    state, actions = interpreter.handle(dialplans, roundtrip(state), PromptFinished(), clock)
    assert state["language"] == "tr"
    date = actions[-1]
    assert isinstance(date, Play)
    assert (date.prompts[0].type, date.prompts[0].value, date.prompts[0].language) == (
        "date",
        "2026-12-07",
        "tr",
    )

    state, actions = interpreter.handle(dialplans, roundtrip(state), PromptFinished(), clock)
    assert actions[-1] == Record(
        name="vm-c1", max_length=30.0, prompts=actions[-1].prompts, beep=True
    )

    finished = RecordingFinished(name="vm-c1", duration=4.0)
    state, actions = interpreter.handle(dialplans, roundtrip(state), finished, clock)
    assert state["variables"]["message"] == "vm-c1"
    assert isinstance(actions[-1], Gather)

    state, actions = interpreter.handle(
        dialplans, state, DigitsCollected(digits="4", reason="complete"), clock
    )
    assert SurveyAnswer(question="csat", score=4) in actions
    assert actions[-1] == Transfer(target="sip:desk@127.0.0.1")
    assert interpreter.is_finished(state)
    assert state["path"] == [
        "flow.greet",
        "flow.pick",
        "flow.to_tr",
        "flow.say_date",
        "flow.rec",
        "flow.survey",
        "flow.out",
    ]


def test_survey_gives_up_after_tries(load, clock: VirtualClock) -> None:
    dialplans = load(FLOW)
    state, _ = interpreter.start(dialplans, CALL, clock, "flow.survey")

    for _ in range(2):
        state, actions = interpreter.handle(
            dialplans, state, DigitsCollected(digits="9", reason="complete"), clock
        )

    assert actions[-1] == Transfer(target="sip:desk@127.0.0.1")
    assert "csat" not in state["variables"]


def test_finished_call_ignores_events(load, clock: VirtualClock) -> None:
    dialplans = load(FLOW)
    state, _ = interpreter.start(dialplans, CALL, clock, "flow.out")

    state, actions = interpreter.handle(dialplans, state, PromptFinished(), clock)

    assert actions == []


def test_caller_hangup_ends_the_ivr(load, clock: VirtualClock) -> None:
    dialplans = load(FLOW)
    state, _ = interpreter.start(dialplans, CALL, clock, "flow")

    state, actions = interpreter.handle(dialplans, state, CallerHangup(), clock)

    assert actions == []
    assert state["outcome"] == "caller_hangup"


def test_unexpected_event_changes_nothing(load, clock: VirtualClock) -> None:
    dialplans = load(FLOW)
    state, _ = interpreter.start(dialplans, CALL, clock, "flow.rec")

    after, actions = interpreter.handle(dialplans, state, PromptFinished(), clock)

    assert actions == []
    assert after == state


QUEUE = """
    start: http
    nodes:
      http:
        kind: http
        url: "http://127.0.0.1:9/x"
        assign: {vip: vip}
        next: q
        error: q
      q:
        kind: queue
        queue: support
        skills: {support: 2}
        priority: "{{ 10 if vip else 1 }}"
        language: "{{ language }}"
        on: {overflow: over}
        next: back
        answered: done
      over: {kind: transfer, target: "+902120000000"}
      back: {kind: hangup, reason: returned}
      done: {kind: hangup, reason: answered}
"""


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        ("overflow", Transfer(target="+902120000000")),
        ("timeout", Hangup(reason="returned")),
        ("answered", Hangup(reason="answered")),
    ],
)
def test_queue_outcomes(load, clock: VirtualClock, outcome: str, expected: object) -> None:
    dialplans = load(QUEUE)
    state, actions = interpreter.start(dialplans, CALL, clock, "flow")
    request = actions[-1]
    assert isinstance(request, HttpRequest)
    assert request.timeout == 3.0

    reply = HttpResult(request_id=request.request_id, status=200, body={"vip": True})
    state, actions = interpreter.handle(dialplans, state, reply, clock)
    assert actions[-1] == Enqueue(
        queue="support", skills={"support": 2}, language="en", priority=10, attributes={}
    )

    state, actions = interpreter.handle(dialplans, state, QueueResult(outcome=outcome), clock)
    assert actions[-1] == expected


def test_http_reply_for_other_request_is_ignored(load, clock: VirtualClock) -> None:
    dialplans = load(QUEUE)
    state, _ = interpreter.start(dialplans, CALL, clock, "flow")

    after, actions = interpreter.handle(
        dialplans, state, HttpResult(request_id="stale", status=200), clock
    )

    assert actions == []
    assert after["step"] == "http"


def test_http_error_goes_to_error_target(load, clock: VirtualClock) -> None:
    dialplans = load(QUEUE)
    state, actions = interpreter.start(dialplans, CALL, clock, "flow")
    failed = HttpResult(request_id=actions[-1].request_id, status=0, error="timeout")

    state, actions = interpreter.handle(dialplans, state, failed, clock)

    assert isinstance(actions[-1], Enqueue)
    assert actions[-1].priority == 1


SCHEDULE = """
    start: hours
    nodes:
      hours:
        kind: schedule
        time_zone: Europe/Istanbul
        hours: {mon: ["09:00-12:00", "13:00-18:00"], sat: "10:00-24:00"}
        holidays: [2026-12-08]
        open: o
        closed: c
        holiday: h
      o: {kind: hangup, reason: open}
      c: {kind: hangup, reason: closed}
      h: {kind: hangup, reason: holiday}
"""


@pytest.mark.parametrize(
    ("moment", "reason"),
    [
        ("2026-12-07T09:00:00+03:00", "open"),
        ("2026-12-07T12:30:00+03:00", "closed"),
        ("2026-12-07T17:59:59+03:00", "open"),
        ("2026-12-07T18:00:00+03:00", "closed"),
        ("2026-12-07T06:30:00+00:00", "open"),
        ("2026-12-08T10:00:00+03:00", "holiday"),
        ("2026-12-12T23:59:00+03:00", "open"),
        ("2026-12-13T11:00:00+03:00", "closed"),
    ],
)
def test_schedule_in_time_zone(load, moment: str, reason: str) -> None:
    import datetime as dt

    dialplans = load(SCHEDULE)
    clock = VirtualClock(dt.datetime.fromisoformat(moment).timestamp())

    _, actions = interpreter.start(dialplans, CALL, clock, "flow")

    assert actions[-1] == Hangup(reason=reason)


def test_entry_from_called_number(load, clock: VirtualClock) -> None:
    dialplans = load("start: a\nnumbers: ['100']\nnodes:\n  a: {kind: hangup, reason: here}\n")

    _, actions = interpreter.start(dialplans, CALL, clock)

    assert actions == [Hangup(reason="here")]


def test_unknown_number_raises(load, clock: VirtualClock) -> None:
    dialplans = load("start: a\nnodes:\n  a: {kind: hangup}\n")

    with pytest.raises(interpreter.EntryNotFoundError, match="'100'"):
        interpreter.start(dialplans, CALL, clock)


def test_reload_without_current_node(
    load, write: Write, settings: IvrSettings, clock: VirtualClock
) -> None:
    dialplans = load(FLOW)
    state, _ = interpreter.start(dialplans, CALL, clock, "flow.rec")
    write("flow.yaml", "start: a\nnodes:\n  a: {kind: hangup}\n")
    changed = load_dialplans(settings.dialplans, settings)

    _, actions = interpreter.handle(changed, state, RecordingFinished(name="x"), clock)

    assert actions == [Hangup(reason="dialplan_changed")]


def test_old_version_serves_call_in_progress(load, clock: VirtualClock) -> None:
    old = load(FLOW)
    state, _ = interpreter.start(old, CALL, clock, "flow.rec")
    load("start: a\nnodes:\n  a: {kind: hangup}\n")

    state, actions = interpreter.handle(old, state, RecordingFinished(name="x"), clock)

    assert isinstance(actions[-1], Gather)
    assert state["version"] == old.version


def test_events_survive_dict_roundtrip() -> None:
    event = DigitsCollected(digits="12", reason="terminator")

    assert event_from_dict(json.loads(json.dumps(event.to_dict()))) == event


def test_step_limit_hangs_up(write: Write, settings: IvrSettings, clock: VirtualClock) -> None:
    chain = "\n".join(f"  n{i}: {{kind: goto, target: n{i + 1}}}" for i in range(12))
    write("flow.yaml", f"start: n0\nnodes:\n{chain}\n  n12: {{kind: hangup}}\n")
    tight = settings.model_copy(update={"max_steps": 10})
    dialplans = load_dialplans(tight.dialplans, tight)

    _, actions = interpreter.start(dialplans, CALL, clock, "flow")

    assert actions == [Hangup(reason="ivr_loop")]


def test_yaml_values_become_json(load, clock: VirtualClock) -> None:
    dialplans = load(
        """
        start: a
        variables: {due: 2026-12-31, limits: {max: 5}}
        nodes:
          a: {kind: set, variables: {opened: 2026-01-02, flags: [true, 1.5]}, next: b}
          b: {kind: hangup}
        """
    )

    state, _ = interpreter.start(dialplans, CALL, clock, "flow")

    assert roundtrip(state)["variables"] == {
        **state["variables"],
        "due": "2026-12-31",
        "opened": "2026-01-02",
        "limits": {"max": 5},
        "flags": [True, 1.5],
    }


def test_sealed_values_survive_reload_in_process(
    load, write: Write, settings: IvrSettings, clock: VirtualClock
) -> None:
    dialplans = load(SECURE)
    state, _ = interpreter.start(dialplans, CALL, clock, "flow")
    state, _ = interpreter.handle(
        dialplans, state, DigitsCollected(digits=CARD, reason="max_digits"), clock
    )
    reloaded = load_dialplans(settings.dialplans, settings, environment={"CRM_TOKEN": "s3cret"})

    state, actions = interpreter.handle(
        reloaded, state, DigitsCollected(digits="1", reason="complete"), clock
    )

    request = next(action for action in actions if isinstance(action, HttpRequest))
    assert request.url.endswith(CARD)


def test_key_from_environment_is_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    from ivr.sealing import Sealer

    monkeypatch.setenv("TEST_IVR_KEY", "k" * 40)
    token = Sealer.from_environment("TEST_IVR_KEY").seal("secret")

    assert Sealer.from_environment("TEST_IVR_KEY").unseal(token) == "secret"
    assert Sealer("another key of forty characters, at least").unseal(token) is None


def test_prompt_with_sensitive_value_is_marked(load, clock: VirtualClock) -> None:
    dialplans = load(
        """
        start: pin
        nodes:
          pin:
            kind: input
            variable: pin
            prompt: {tts: PIN}
            sensitive: true
            next: hello
          hello: {kind: say, text: "Hello {{ caller }}", next: tell}
          tell: {kind: say, text: "Your PIN is {{ pin }}"}
        """
    )
    state, _ = interpreter.start(dialplans, CALL, clock, "flow")
    state, actions = interpreter.handle(
        dialplans, state, DigitsCollected(digits="1234", reason="max_digits"), clock
    )
    assert actions[-1] == Play(prompts=actions[-1].prompts, sensitive=False)

    state, actions = interpreter.handle(dialplans, state, PromptFinished(), clock)

    assert actions[-1] == Play(prompts=actions[-1].prompts, sensitive=True)
    assert actions[-1].prompts[0].value == "Your PIN is 1234"


def test_spoken_digits_choose_menu_option(load, clock: VirtualClock) -> None:
    from ivr.actions import SpeechResult

    dialplans = load(
        """
        start: menu
        nodes:
          menu:
            kind: menu
            greeting: {tts: Say or press one}
            options: {"1": bye}
            max_invalid: 1
            failure: lost
          bye: {kind: hangup, reason: chosen}
          lost: {kind: hangup, reason: failed}
        """
    )
    state, _ = interpreter.start(dialplans, CALL, clock, "flow")

    _, chosen = interpreter.handle(dialplans, state, SpeechResult(text="1"), clock)
    _, failed = interpreter.handle(dialplans, state, SpeechResult(text="billing"), clock)

    assert chosen == [Hangup(reason="chosen")]
    assert failed == [Hangup(reason="failed")]
