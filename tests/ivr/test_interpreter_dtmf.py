"""The DTMF timing rules through the interpreter: its Gather fed to the collector."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ivr import interpreter
from ivr.actions import CallInfo, DigitsCollected, Gather, Hangup, Transfer
from ivr.dtmf import DtmfCollector
from ivr.loader import load_dialplans
from ivr.settings import IvrSettings
from santral.clock import VirtualClock

DIALPLAN = """
    start: account
    nodes:
      account:
        kind: input
        variable: account
        prompt: {tts: Enter your account number}
        min_digits: 4
        max_digits: 16
        timeout: 8s
        inter_digit_timeout: 30s
        next: menu
      menu:
        kind: menu
        greeting: {tts: One or twelve}
        options: {"1": one, "12": twelve}
        timeout: 3
        inter_digit_timeout: 2
        max_no_input: 2
        failure: gone
      one: {kind: transfer, target: "1001"}
      twelve: {kind: transfer, target: "1012"}
      gone: {kind: hangup, reason: no_choice}
"""


def start_call(
    write: Callable[[str, str], Path], settings: IvrSettings, clock: VirtualClock
) -> tuple[object, dict, list]:
    write("flow.yaml", DIALPLAN)
    dialplans = load_dialplans(settings.dialplans, settings)
    state, actions = interpreter.start(
        dialplans, CallInfo(call_id="c1", caller="1", called="2"), clock, "flow"
    )
    return dialplans, state, actions


def collect(
    gather: Gather, presses: list[tuple[float, str]], clock: VirtualClock
) -> DigitsCollected:
    """Run a Gather through the collector, starting when its prompt ends at clock time."""
    start = clock.now()
    collector = DtmfCollector(gather)
    collector.prompt_finished(start)
    for offset, key in presses:
        clock.set(start + offset)
        result = collector.press(key, clock.now())
        if result is not None:
            return result
    deadline = collector.deadline()
    assert deadline is not None
    clock.set(deadline)
    result = collector.expire(deadline)
    assert result is not None
    return result


def test_interpreter_input_ends_at_terminator(write, settings, clock) -> None:
    dialplans, state, actions = start_call(write, settings, clock)
    gather = actions[-1]
    assert isinstance(gather, Gather)
    start = clock.now()

    keys = [(3, "1"), (5, "2"), (7, "3"), (9, "4"), (12, "5"), (14, "#")]
    result = collect(gather, keys, clock)
    state, _ = interpreter.handle(dialplans, state, result, clock)

    assert result == DigitsCollected(digits="12345", reason="terminator")
    assert clock.now() - start == 14
    assert state["variables"]["account"] == "12345"


def test_interpreter_input_ends_at_inter_digit_timeout(write, settings, clock) -> None:
    dialplans, state, actions = start_call(write, settings, clock)
    start = clock.now()

    keys = [(3, "1"), (5, "2"), (7, "3"), (9, "4"), (12, "5")]
    result = collect(actions[-1], keys, clock)
    state, _ = interpreter.handle(dialplans, state, result, clock)

    assert result == DigitsCollected(digits="12345", reason="inter_digit_timeout")
    assert clock.now() - start == 42
    assert state["variables"]["account"] == "12345"


def test_interpreter_counts_no_input_toward_limit(write, settings, clock) -> None:
    dialplans, state, actions = start_call(write, settings, clock)
    state, actions = interpreter.handle(
        dialplans,
        state,
        collect(actions[-1], [(1, "1"), (2, "2"), (3, "3"), (4, "4"), (5, "#")], clock),
        clock,
    )
    menu = actions[-1]
    assert isinstance(menu, Gather)
    start = clock.now()

    first = collect(menu, [], clock)
    state, actions = interpreter.handle(dialplans, state, first, clock)
    assert first.reason == "no_input"
    assert clock.now() - start == 3
    assert state["tries"]["no_input"] == 1

    second = collect(actions[-1], [], clock)
    state, actions = interpreter.handle(dialplans, state, second, clock)
    assert actions[-1] == Hangup(reason="no_choice")


def test_interpreter_menu_prefix_rule(write, settings, clock) -> None:
    cases = [
        ([(1.0, "1")], "1001", 3.0),
        ([(1.0, "1"), (1.3, "#")], "1001", 1.3),
        ([(1.0, "1"), (1.5, "2")], "1012", 1.5),
    ]
    for presses, target, elapsed in cases:
        dialplans, state, actions = start_call(write, settings, clock)
        digits = collect(actions[-1], [(1, "1"), (2, "2"), (3, "3"), (4, "4"), (5, "#")], clock)
        state, actions = interpreter.handle(dialplans, state, digits, clock)
        start = clock.now()

        result = collect(actions[-1], presses, clock)
        state, actions = interpreter.handle(dialplans, state, result, clock)

        assert actions[-1] == Transfer(target=target), presses
        assert clock.now() - start == pytest.approx(elapsed), presses
