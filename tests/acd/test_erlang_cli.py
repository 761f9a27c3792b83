"""The ``santral erlang`` command."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from acd.cli import erlang


def test_erlang_command_table() -> None:
    result = CliRunner().invoke(
        erlang, ["--calls", "100", "--aht", "180", "--threshold", "20", "--shrinkage", "0.3"]
    )

    assert result.exit_code == 0, result.output
    assert "14 *" in result.output
    assert "88.84%" in result.output
    assert "required agents: 14; scheduled with 30% shrinkage: 20" in result.output


def test_erlang_command_erlang_a_json() -> None:
    result = CliRunner().invoke(
        erlang,
        ["--calls", "100", "--aht", "180", "--patience", "60", "--agents", "12", "--json"],
    )

    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    row = next(row for row in document["rows"] if row["agents"] == 12)
    assert row["p_abandon"] == pytest.approx(0.0759, abs=1e-4)


def test_erlang_command_rejects_mixed_options() -> None:
    result = CliRunner().invoke(erlang, ["--calls", "100", "--aht", "180", "--max-abandon", "0.05"])

    assert result.exit_code == 2
    assert "--max-abandon needs --patience" in result.output


def test_erlang_command_rejects_overloaded_agents() -> None:
    result = CliRunner().invoke(erlang, ["--calls", "100", "--aht", "180", "--agents", "5"])

    assert result.exit_code == 1
    assert "5 agents cannot carry 10.00 Erlangs" in result.output
    assert "use Erlang A with a patience" in result.output
