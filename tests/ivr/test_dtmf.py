"""The DTMF collector's timing rules, in virtual time."""

from __future__ import annotations

from ivr.actions import DigitsCollected, Gather, Prompt
from ivr.dtmf import DtmfCollector

LONG_INPUT = Gather(
    prompts=[], min_digits=4, max_digits=16, timeout=8, inter_digit_timeout=30, terminator="#"
)
HELLO = Prompt(type="tts", value="hello")
MENU_1_12 = Gather(
    prompts=[],
    max_digits=2,
    timeout=5,
    inter_digit_timeout=2,
    complete=["1", "12"],
    prefixes=["1", "12"],
)


def press_all(collector: DtmfCollector, presses: list[tuple[float, str]]) -> DigitsCollected | None:
    for at, key in presses:
        result = collector.press(key, at)
        if result is not None:
            return result
    return None


def run_out(collector: DtmfCollector) -> tuple[float, DigitsCollected]:
    deadline = collector.deadline()
    assert deadline is not None
    result = collector.expire(deadline)
    assert result is not None
    return deadline, result


def test_terminator_ends_collection_without_the_hash() -> None:
    collector = DtmfCollector(LONG_INPUT)
    collector.prompt_finished(0.0)

    result = press_all(collector, [(3, "1"), (5, "2"), (7, "3"), (9, "4"), (12, "5"), (14, "#")])

    assert result == DigitsCollected(digits="12345", reason="terminator")


def test_first_key_switches_to_inter_digit_timer() -> None:
    collector = DtmfCollector(LONG_INPUT)
    collector.prompt_finished(0.0)
    assert collector.deadline() == 8.0

    collector.press("1", 3.0)

    assert collector.deadline() == 33.0
    assert collector.expire(8.0) is None


def test_inter_digit_timeout_ends_at_42_seconds() -> None:
    collector = DtmfCollector(LONG_INPUT)
    collector.prompt_finished(0.0)
    press_all(collector, [(3, "1"), (5, "2"), (7, "3"), (9, "4"), (12, "5")])

    at, result = run_out(collector)

    assert at == 42.0
    assert result == DigitsCollected(digits="12345", reason="inter_digit_timeout")


def test_no_input_times_out_after_timeout() -> None:
    collector = DtmfCollector(Gather(prompts=[], max_digits=1, timeout=3))
    collector.prompt_finished(10.0)

    assert collector.expire(12.9) is None
    at, result = run_out(collector)

    assert at == 13.0
    assert result == DigitsCollected(digits="", reason="no_input")


def test_prefix_option_waits_for_inter_digit_timeout() -> None:
    collector = DtmfCollector(MENU_1_12)
    collector.prompt_finished(0.0)

    assert collector.press("1", 1.0) is None
    assert collector.expire(2.9) is None
    at, result = run_out(collector)

    assert at == 3.0
    assert result == DigitsCollected(digits="1", reason="inter_digit_timeout")


def test_prefix_option_with_terminator_chooses_at_once() -> None:
    collector = DtmfCollector(MENU_1_12)
    collector.prompt_finished(0.0)

    result = press_all(collector, [(1.0, "1"), (1.2, "#")])

    assert result == DigitsCollected(digits="1", reason="terminator")


def test_longer_option_completes_at_once() -> None:
    collector = DtmfCollector(MENU_1_12)
    collector.prompt_finished(0.0)

    result = press_all(collector, [(1.0, "1"), (1.5, "2")])

    assert result == DigitsCollected(digits="12", reason="complete")


def test_key_no_option_continues_is_decided_at_once() -> None:
    collector = DtmfCollector(MENU_1_12)
    collector.prompt_finished(0.0)

    assert collector.press("7", 1.0) == DigitsCollected(digits="7", reason="complete")

    collector = DtmfCollector(MENU_1_12)
    collector.prompt_finished(0.0)
    assert press_all(collector, [(1.0, "1"), (1.5, "3")]) == DigitsCollected(
        digits="13", reason="complete"
    )


def test_unambiguous_option_completes_at_once() -> None:
    menu = Gather(prompts=[], max_digits=2, complete=["1", "2", "12"], prefixes=["1", "2", "12"])
    collector = DtmfCollector(menu)
    collector.prompt_finished(0.0)

    assert collector.press("2", 0.5) == DigitsCollected(digits="2", reason="complete")


def test_pattern_options_match_and_continue() -> None:
    menu = Gather(prompts=[], max_digits=3, complete=["1", "_9XX"], prefixes=["1", "_9XX"])
    collector = DtmfCollector(menu)
    collector.prompt_finished(0.0)

    assert collector.press("9", 0.5) is None
    assert collector.press("0", 1.0) is None
    assert collector.press("5", 1.5) == DigitsCollected(digits="905", reason="complete")


def test_max_digits_ends_collection() -> None:
    collector = DtmfCollector(Gather(prompts=[], max_digits=3, timeout=5))
    collector.prompt_finished(0.0)

    assert press_all(collector, [(1, "1"), (2, "2"), (3, "3")]) == DigitsCollected(
        digits="123", reason="max_digits"
    )


def test_barge_in_key_during_prompt_counts() -> None:
    collector = DtmfCollector(Gather(prompts=[HELLO], max_digits=4, inter_digit_timeout=2))

    assert collector.deadline() is None
    assert collector.press("5", 1.0) is None

    assert not collector.prompt_playing
    assert collector.deadline() == 3.0


def test_key_during_prompt_without_barge_in_is_ignored() -> None:
    collector = DtmfCollector(Gather(prompts=[HELLO], max_digits=4, barge_in=False))

    assert collector.press("5", 1.0) is None
    collector.prompt_finished(4.0)

    assert collector.keys == ""
    assert collector.deadline() == 9.0


def test_key_after_deadline_reports_timeout() -> None:
    collector = DtmfCollector(Gather(prompts=[], max_digits=4, timeout=3))
    collector.prompt_finished(0.0)

    assert collector.press("1", 3.5) == DigitsCollected(digits="", reason="no_input")


def test_result_is_final() -> None:
    collector = DtmfCollector(Gather(prompts=[], max_digits=1))
    collector.prompt_finished(0.0)
    first = collector.press("1", 0.5)

    assert collector.press("2", 0.6) == first
    assert collector.deadline() is None


def test_gather_without_prompts_times_from_start() -> None:
    collector = DtmfCollector(Gather(prompts=[], max_digits=1, timeout=3), now=100.0)

    assert collector.deadline() == 103.0
    assert collector.expire(103.0) == DigitsCollected(digits="", reason="no_input")
