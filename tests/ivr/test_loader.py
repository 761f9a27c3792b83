"""Dialplan validation: every problem at its file, line and column, with the fix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ivr.loader import check, load_dialplans, reload_dialplans
from ivr.settings import IvrSettings
from santral.errors import DialplanError, Problem

Write = Callable[[str, str], Path]

VALID = """
    start: menu
    nodes:
      menu:
        kind: menu
        greeting: {tts: Press 1}
        options: {"1": bye}
      bye: {kind: hangup}
"""


def errors_of(settings: IvrSettings) -> list[Problem]:
    with pytest.raises(DialplanError) as raised:
        load_dialplans(settings.dialplans, settings)
    return raised.value.problems


def only_error(settings: IvrSettings) -> Problem:
    problems = errors_of(settings)
    assert len(problems) == 1, [str(problem) for problem in problems]
    return problems[0]


def test_valid_dialplan_loads(write: Write, settings: IvrSettings) -> None:
    write("front.yaml", VALID)

    dialplans = load_dialplans(settings.dialplans, settings)

    assert list(dialplans.dialplans) == ["front"]
    assert len(dialplans.version) == 16


def test_version_follows_content(write: Write, settings: IvrSettings) -> None:
    write("front.yaml", VALID)
    first = load_dialplans(settings.dialplans, settings).version
    write("front.yaml", VALID.replace("Press 1", "Press one"))

    assert load_dialplans(settings.dialplans, settings).version != first


def test_unknown_kind_points_at_kind(write: Write, settings: IvrSettings) -> None:
    path = write("front.yaml", VALID.replace("kind: hangup", "kind: hangpu"))

    problem = only_error(settings)

    assert str(problem.position) == f"{path}:7:15"
    assert "unknown node kind 'hangpu'; did you mean 'hangup'?" in problem.message


def test_missing_target_across_files(write: Write, settings: IvrSettings) -> None:
    write("front.yaml", VALID.replace('"1": bye', '"1": back.nowhere'))
    path = write("back.yaml", "start: end\nnodes:\n  end: {kind: hangup}\n")

    problems = errors_of(settings)

    front = settings.dialplans / "front.yaml"
    assert [str(problem.position) for problem in problems] == [f"{front}:6:20"]
    assert "dialplan 'back' has no node 'nowhere'" in problems[0].message
    assert path.exists()


def test_target_in_other_dialplan_resolves(write: Write, settings: IvrSettings) -> None:
    write("front.yaml", VALID.replace('"1": bye', '"1": back.end'))
    write("back.yaml", "start: end\nnodes:\n  end: {kind: hangup}\n")

    dialplans = load_dialplans(settings.dialplans, settings)

    assert dialplans.resolve("back.end", "front") == ("back", "end")
    assert dialplans.resolve("back", "front") == ("back", "end")


def test_misspelled_target_suggests_node(write: Write, settings: IvrSettings) -> None:
    write("front.yaml", VALID.replace('"1": bye', '"1": by'))

    problem = only_error(settings)

    assert problem.position.line == 6
    assert "did you mean 'bye'?" in problem.message


def test_invalid_duration(write: Write, settings: IvrSettings) -> None:
    text = VALID.replace('options: {"1": bye}', 'options: {"1": bye}\n        timeout: 5 sec')
    path = write("front.yaml", text)

    problem = only_error(settings)

    assert str(problem.position) == f"{path}:7:14"
    assert "invalid duration '5 sec'" in problem.message
    assert "'3s'" in problem.message


def test_http_timeout_above_ten_seconds(write: Write, settings: IvrSettings) -> None:
    write(
        "front.yaml",
        """
        start: dip
        nodes:
          dip: {kind: http, url: "http://127.0.0.1:1/x", timeout: 11s, next: bye}
          bye: {kind: hangup}
        """,
    )

    problem = only_error(settings)

    assert problem.position.line == 3
    assert "less than or equal to 10" in problem.message


def test_invalid_expression_points_into_it(write: Write, settings: IvrSettings) -> None:
    path = write(
        "front.yaml",
        """
        start: check
        nodes:
          check:
            kind: branch
            conditions:
              - if: "vip == true and and"
                target: bye
            else: bye
          bye: {kind: hangup}
        """,
    )

    problem = only_error(settings)

    assert str(problem.position) == f"{path}:6:30"
    assert "invalid expression" in problem.message


def test_ambiguous_options(write: Write, settings: IvrSettings) -> None:
    write(
        "front.yaml", VALID.replace('options: {"1": bye}', 'options: {"15": bye, "_1[4-6]": bye}')
    )

    problem = only_error(settings)

    assert problem.position.line == 6
    assert "options '15' and '_1[4-6]' are ambiguous" in problem.message


def test_option_with_terminator_is_rejected(write: Write, settings: IvrSettings) -> None:
    write("front.yaml", VALID.replace('options: {"1": bye}', 'options: {"1#": bye}'))

    assert "contains the terminator" in only_error(settings).message


def test_number_and_text_keys_collide(write: Write, settings: IvrSettings) -> None:
    write("front.yaml", VALID.replace('options: {"1": bye}', 'options: {1: bye, "1": menu}'))

    assert "given twice" in only_error(settings).message


def test_cycle_without_caller_input(write: Write, settings: IvrSettings) -> None:
    path = write(
        "front.yaml",
        """
        start: first
        nodes:
          first: {kind: set, variables: {a: 1}, next: second}
          second:
            kind: branch
            conditions: [{if: "a == 1", target: first}]
            else: bye
          bye: {kind: hangup}
        """,
    )

    problem = only_error(settings)

    assert str(problem.position) == f"{path}:3:3"
    assert (
        "cycle without caller input: front.first -> front.second -> front.first" in problem.message
    )


def test_loop_through_a_menu_is_allowed(write: Write, settings: IvrSettings) -> None:
    text = VALID.replace('options: {"1": bye}', 'options: {"1": bye, "9": again}')
    write("front.yaml", text + "      again: {kind: goto, target: menu}\n")

    dialplans, problems = check(settings.dialplans, settings)

    assert dialplans is not None
    assert problems == []


def test_prompt_missing_for_declared_language(write: Write, settings: IvrSettings) -> None:
    path = write(
        "front.yaml",
        """
        start: hello
        prompts:
          welcome: {en: Welcome}
        nodes:
          hello: {kind: play, prompts: welcome}
        """,
    )

    problem = only_error(settings)

    assert str(problem.position) == f"{path}:5:32"
    assert "no recording for language 'tr'" in problem.message
    assert "prompts.welcome.tr" in problem.message


def test_recording_file_satisfies_prompt(write: Write, settings: IvrSettings) -> None:
    write("front.yaml", "start: hello\nnodes:\n  hello: {kind: play, prompts: [welcome]}\n")
    for language in ("en", "tr"):
        folder = settings.recordings / language
        folder.mkdir(parents=True)
        (folder / "welcome.wav").write_bytes(b"RIFF")

    dialplans = load_dialplans(settings.dialplans, settings)

    assert dialplans.has_recording("tr", "welcome")


def test_tts_text_missing_a_language(write: Write, settings: IvrSettings) -> None:
    write("front.yaml", "start: hi\nnodes:\n  hi: {kind: say, text: {en: Hi}}\n")

    assert "TTS text for language 'tr' is missing" in only_error(settings).message


def test_unknown_field_suggests_the_right_one(write: Write, settings: IvrSettings) -> None:
    path = write("front.yaml", VALID.replace("greeting:", "greting:"))

    problems = errors_of(settings)

    messages = {str(problem) for problem in problems}
    assert f"{path}:5:5: unknown field 'greting'; did you mean 'greeting'?" in messages
    assert f"{path}:3:3: missing required field 'greeting'" in messages


def test_invalid_yaml_reports_position(write: Write, settings: IvrSettings) -> None:
    path = write("front.yaml", "start: menu\nnodes:\n  menu: {kind: menu\n")

    problem = only_error(settings)

    assert problem.position.path == str(path)
    assert problem.position.line == 4
    assert problem.message.startswith("invalid YAML")


def test_invalid_template(write: Write, settings: IvrSettings) -> None:
    write("front.yaml", VALID.replace("{tts: Press 1}", '{tts: "Hello {{ name "}'))

    problem = only_error(settings)

    assert problem.position.line == 5
    assert "invalid template" in problem.message


def test_unknown_language(write: Write, settings: IvrSettings) -> None:
    node = "lang: {kind: language, language: de, next: bye}"
    write("front.yaml", f"start: lang\nnodes:\n  {node}\n  bye: {{kind: hangup}}\n")

    assert "language 'de' is not in ivr.languages" in only_error(settings).message


def test_every_error_is_reported_in_one_run(write: Write, settings: IvrSettings) -> None:
    write(
        "front.yaml",
        """
        start: missing
        nodes:
          a: {kind: goto, target: nowhere}
          b: {kind: teleport}
          c: {kind: input, variable: x, prompt: {tts: x}, min_digits: 5, max_digits: 2, next: a}
        """,
    )

    lines = sorted(problem.position.line for problem in errors_of(settings))

    assert lines == [1, 3, 4, 5]


def test_duplicate_dialplan_names(write: Write, settings: IvrSettings) -> None:
    write("a.yaml", "dialplan: front\nstart: x\nnodes:\n  x: {kind: hangup}\n")
    path = write("b.yaml", "dialplan: front\nstart: x\nnodes:\n  x: {kind: hangup}\n")

    problem = only_error(settings)

    assert problem.position.path == str(path)
    assert "is also defined in" in problem.message


def test_unreachable_node_is_a_warning(write: Write, settings: IvrSettings) -> None:
    path = write("front.yaml", VALID + "      orphan: {kind: hangup}\n")

    dialplans, problems = check(settings.dialplans, settings)

    assert dialplans is not None
    assert [str(problem) for problem in problems] == [
        f"{path}:8:3: warning: node 'front.orphan' is unreachable; no node goes to it"
    ]


def test_config_entry_must_exist(write: Write, settings: IvrSettings) -> None:
    write("front.yaml", VALID)
    settings = settings.model_copy(update={"numbers": {"100": "front.missing"}})

    assert "ivr.numbers['100']" in only_error(settings).message


def test_scenario_files_are_not_dialplans(write: Write, settings: IvrSettings) -> None:
    write("front.yaml", VALID)
    write("front.test.yaml", "scenarios: []\n")

    assert list(load_dialplans(settings.dialplans, settings).dialplans) == ["front"]


def test_reload_keeps_previous_on_error(write: Write, settings: IvrSettings) -> None:
    write("front.yaml", VALID)
    previous = load_dialplans(settings.dialplans, settings)
    write("front.yaml", VALID.replace('"1": bye', '"1": nowhere'))

    current, problems = reload_dialplans(previous, settings.dialplans, settings)

    assert current is previous
    assert "target 'nowhere' not found" in problems[0].message


def test_reload_swaps_valid_change(write: Write, settings: IvrSettings) -> None:
    write("front.yaml", VALID)
    previous = load_dialplans(settings.dialplans, settings)
    write("front.yaml", VALID.replace("Press 1", "Press one"))

    current, problems = reload_dialplans(previous, settings.dialplans, settings)

    assert current.version != previous.version
    assert problems == []


def test_shipped_dialplans_are_valid() -> None:
    from tests.ivr.conftest import REPOSITORY, SHIPPED_DIALPLANS

    settings = IvrSettings(recordings=REPOSITORY / "recordings")
    dialplans, problems = check(SHIPPED_DIALPLANS, settings)

    assert dialplans is not None
    assert problems == []


def test_failure_loop_for_silent_caller(write: Write, settings: IvrSettings) -> None:
    path = write(
        "front.yaml",
        """
        start: menu
        nodes:
          menu:
            kind: menu
            greeting: {tts: Press 1}
            options: {"1": bye}
            failure: again
          again: {kind: play, prompts: {tts: Let us try again}, next: menu}
          bye: {kind: hangup}
        """,
    )

    problem = only_error(settings)

    assert str(problem.position) == f"{path}:8:3"
    assert "presses nothing loops forever: front.again -> front.menu -> front.again" in (
        problem.message
    )


@pytest.mark.parametrize(
    ("target", "valid"),
    [
        ("9000", True),
        ("+902120000000", True),
        ("sip:desk@127.0.0.1:5060", True),
        ("{{ agent_number }}", True),
        ("call desk", False),
        ("0212-000", False),
    ],
)
def test_transfer_target_forms(
    write: Write, settings: IvrSettings, target: str, valid: bool
) -> None:
    write("front.yaml", f"start: t\nnodes:\n  t: {{kind: transfer, target: '{target}'}}\n")

    dialplans, problems = check(settings.dialplans, settings)

    assert (dialplans is not None) is valid
    if not valid:
        assert "invalid transfer target" in problems[0].message
