"""The engineer commands, run through click."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from ivr.cli import call, check, schema
from ivr.cli import test_command as scenario_command
from ivr.schema import dialplan_schema
from tests.ivr.conftest import REPOSITORY, SHIPPED_DIALPLANS

Write = Callable[[str, str], Path]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A config.yaml that points at the shipped dialplans and recordings."""
    path = tmp_path / "config.yaml"
    path.write_text(
        f"ivr:\n  dialplans: {SHIPPED_DIALPLANS}\n  recordings: {REPOSITORY / 'recordings'}\n",
        encoding="utf-8",
    )
    return path


def test_check_shipped_dialplans(config: Path) -> None:
    result = CliRunner().invoke(check, ["-c", str(config)])

    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: 3 dialplans")


def test_check_reports_file_and_line(tmp_path: Path, config: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("start: a\nnodes:\n  a: {kind: goto, target: b}\n", encoding="utf-8")

    result = CliRunner().invoke(check, ["-c", str(config), str(broken)])

    assert result.exit_code == 1
    assert f"{broken}:3:27: target 'b' not found" in result.output
    assert "1 error(s), 0 warning(s)" in result.output


def test_schema_is_valid_json_schema() -> None:
    result = CliRunner().invoke(schema)

    printed = json.loads(result.output)
    jsonschema.Draft202012Validator.check_schema(printed)
    assert printed == dialplan_schema()


def test_committed_schema_is_current() -> None:
    committed = json.loads((SHIPPED_DIALPLANS / "dialplan.schema.json").read_text("utf-8"))

    assert committed == dialplan_schema(), "run: santral schema -o dialplans/dialplan.schema.json"


def test_schema_accepts_shipped_dialplans() -> None:
    validator = jsonschema.Draft202012Validator(dialplan_schema())
    for path in sorted(SHIPPED_DIALPLANS.glob("*.yaml")):
        if path.name.endswith(".test.yaml"):
            continue
        data = json.loads(json.dumps(YAML(typ="safe").load(path), default=str))

        assert list(validator.iter_errors(data)) == [], path


def test_schema_rejects_unknown_kind() -> None:
    validator = jsonschema.Draft202012Validator(dialplan_schema())

    errors = list(validator.iter_errors({"start": "a", "nodes": {"a": {"kind": "teleport"}}}))

    assert errors


def test_test_command_runs_scenarios(config: Path) -> None:
    result = CliRunner().invoke(scenario_command, ["-c", str(config)])

    assert result.exit_code == 0, result.output
    assert "0 failed" in result.output


def test_test_command_fails_on_wrong_expectation(tmp_path: Path, config: Path) -> None:
    folder = tmp_path / "plans"
    folder.mkdir()
    (folder / "a.yaml").write_text("start: a\nnodes:\n  a: {kind: hangup}\n", encoding="utf-8")
    (folder / "a.test.yaml").write_text(
        "scenarios:\n  - name: wrong\n    entry: a\n    expect: {outcome: transfer}\n",
        encoding="utf-8",
    )

    result = CliRunner().invoke(scenario_command, ["-c", str(config), str(folder)])

    assert result.exit_code == 1
    assert "FAIL wrong" in result.output
    assert "outcome: expected 'transfer', got 'hangup'" in result.output


def test_call_walks_the_ivr(config: Path) -> None:
    arguments = ["100", "-c", str(config), "--keys", "2 3", "--at", "2026-12-07T10:00+03:00"]

    result = CliRunner().invoke(call, arguments)

    assert result.exit_code == 0, result.output
    assert "[tr/main_menu]" in result.output
    assert "queue sales" in result.output
    assert "path: main.language_menu -> main.turkish" in result.output


def test_call_masks_sensitive_keys(config: Path) -> None:
    keys = "1 1 79927398713# 1"
    arguments = ["100", "-c", str(config), "--keys", keys, "--at", "2026-12-07T10:00+03:00"]

    result = CliRunner().invoke(call, arguments)

    assert result.exit_code == 0, result.output
    assert "79927398713" not in result.output
    assert "*******8713" in result.output


def test_call_asks_for_keys(config: Path) -> None:
    arguments = ["100", "-c", str(config), "--at", "2026-12-07T10:00+03:00"]

    result = CliRunner().invoke(call, arguments, input="1\n0\n")

    assert result.exit_code == 0, result.output
    assert "transfer to 9000" in result.output


def test_call_unknown_number(config: Path) -> None:
    result = CliRunner().invoke(call, ["555", "-c", str(config), "--keys", ""])

    assert result.exit_code == 1
    assert "no IVR entry for called number '555'" in result.output


def test_call_with_fake_crm_reply(config: Path) -> None:
    arguments = [
        "100",
        "-c",
        str(config),
        "--keys",
        "1 1 79927398713# 1",
        "--at",
        "2026-12-07T10:00+03:00",
        "--http",
        '*/customers/*={"customer": {"name": "Ayşe", "vip": true}}',
    ]

    result = CliRunner().invoke(call, arguments)

    assert result.exit_code == 0, result.output
    assert "[tts] 'Hello Ayşe.'" in result.output
    assert "queue billing" in result.output
    assert "priority=10" in result.output
