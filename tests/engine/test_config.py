"""Configuration: validation with positions, environment overrides, secrets."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
import structlog

from santral.config import load_config, read_secret
from santral.errors import ConfigError
from santral.logging import REDACTED, redact_secrets
from tests.conftest import REPOSITORY


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_loads() -> None:
    config = load_config(REPOSITORY / "config.yaml", environ={})
    assert config.http.host == "127.0.0.1"
    assert config.http.port == 8080
    assert config.store.url.startswith("sqlite:///")
    assert set(config.acd.agents) == {"alice", "bob"}


def test_defaults_need_no_file() -> None:
    config = load_config(None, environ={})
    assert config.http.port == 8080
    assert config.source == "<defaults>"


def test_unknown_key_reports_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "http:\n  host: 127.0.0.1\n  prot: 8081\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    message = str(caught.value)
    assert f"{path}:3:3:" in message
    assert "unknown setting 'http.prot'" in message


def test_wrong_type_reports_position(tmp_path: Path) -> None:
    path = write(tmp_path, "http:\n  port: eighty\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert f"{path}:2:3:" in str(caught.value)
    assert "http.port" in str(caught.value)


def test_every_problem_is_listed(tmp_path: Path) -> None:
    path = write(tmp_path, "http:\n  port: -1\nlog:\n  level: loud\nextra: 1\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert len(caught.value.problems) == 3


def test_invalid_yaml_reports_position(tmp_path: Path) -> None:
    path = write(tmp_path, "http:\n  port: [8080\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert "invalid YAML" in str(caught.value)
    assert str(path) in str(caught.value)


def test_environment_overrides_file(tmp_path: Path) -> None:
    path = write(tmp_path, "http:\n  port: 8080\n")
    environ = {
        "SANTRAL_HTTP__PORT": "9090",
        "SANTRAL_PUBLIC_URL": "https://santral.example.com",
        "SANTRAL_IVR__LANGUAGES": "[en]",
    }
    config = load_config(path, environ=environ)
    assert config.http.port == 9090
    assert config.public_url == "https://santral.example.com"
    assert config.ivr.languages == ["en"]


def test_environment_error_names_variable(tmp_path: Path) -> None:
    path = write(tmp_path, "{}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={"SANTRAL_HTTP__PORT": "many"})
    assert "environment variable SANTRAL_HTTP__PORT" in str(caught.value)


def test_unrelated_environment_is_ignored(tmp_path: Path) -> None:
    path = write(tmp_path, "{}\n")
    config = load_config(path, environ={"SANTRAL_IVR_SECRET_KEY": "x", "SANTRAL_": "y"})
    assert config.http.port == 8080


def test_relative_paths_follow_config_folder(tmp_path: Path) -> None:
    path = write(tmp_path, "{}\n")
    config = load_config(path, environ={})
    assert config.resolve_path("var/santral.db") == tmp_path / "var/santral.db"


def test_secret_read_from_named_variable() -> None:
    assert read_secret("MY_TOKEN", {"MY_TOKEN": "s3cret"}) == "s3cret"
    assert read_secret("MY_TOKEN", {}) is None
    assert read_secret(None, {"MY_TOKEN": "s3cret"}) is None


def test_log_redacts_secret_values() -> None:
    event = {"event": "login", "auth_token": "abc", "password": "p", "secret_env": "AMI_SECRET"}
    redacted = redact_secrets(structlog.get_logger(), "info", event)
    assert redacted["auth_token"] == REDACTED
    assert redacted["password"] == REDACTED
    assert redacted["secret_env"] == "AMI_SECRET"
    assert logging.getLogger().level >= 0


def test_check_reports_missing_sip_music(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from santral.cli import main

    shutil.copytree(REPOSITORY / "dialplans", tmp_path / "dialplans")
    shutil.copytree(REPOSITORY / "recordings", tmp_path / "recordings")
    path = write(
        tmp_path,
        "sip:\n  enabled: true\n  server: 127.0.0.1\n  extensions: [ivr]\n"
        "  local_address: 127.0.0.1\n  music_on_hold: missing.wav\n",
    )
    result = CliRunner().invoke(main, ["check", "-c", str(path)])
    assert result.exit_code == 1
    assert "music_on_hold" in result.output


def test_run_rejects_missing_config_file(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from santral.cli import main

    result = CliRunner().invoke(main, ["run", "-c", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 1
    assert "not found" in result.output
