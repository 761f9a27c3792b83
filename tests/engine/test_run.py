"""``santral run`` as a process: listening, health, SIGHUP reload, SIGTERM stop."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPOSITORY

STARTUP_LIMIT = 30.0


class EngineProcess:
    """A ``santral run`` child process whose JSON log lines are read as they come."""

    def __init__(self, config: Path, environ: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "santral", "run", "-c", str(config)],
            env=environ,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[dict[str, Any]] = []

    def wait_for(self, event: str, limit: float = STARTUP_LIMIT) -> dict[str, Any]:
        """Read log lines until one has ``event``; fail if the process exits first."""
        assert self.process.stderr is not None
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line:
                pytest.fail(f"santral run exited before logging {event}: {self.lines[-5:]}")
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                record = {"event": "text", "line": line.rstrip()}
            self.lines.append(record)
            if record.get("event") == event:
                return record
        pytest.fail(f"santral run did not log {event} within {limit} s")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=5)

    def close(self) -> None:
        self.stop()
        if self.process.stderr is not None:
            self.process.stderr.close()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copytree(REPOSITORY / "dialplans", tmp_path / "dialplans")
    shutil.copytree(REPOSITORY / "recordings", tmp_path / "recordings")
    shutil.copy(REPOSITORY / "config.yaml", tmp_path / "config.yaml")
    return tmp_path


@pytest.fixture
def engine_process(workdir: Path) -> Iterator[EngineProcess]:
    environ = {
        **os.environ,
        "SANTRAL_HTTP__PORT": "0",
        "SANTRAL_ASTERISK__FASTAGI__PORT": "0",
        "SANTRAL_EMAIL__LISTEN_PORT": "0",
        "SANTRAL_LOG__FORMAT": "json",
        "TWILIO_AUTH_TOKEN": "not-logged-token",
    }
    process = EngineProcess(workdir / "config.yaml", environ)
    yield process
    process.close()


def get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as response:
        result: dict[str, Any] = json.loads(response.read())
        return result


def test_run_serves_reloads_and_stops(engine_process: EngineProcess, workdir: Path) -> None:
    listening = engine_process.wait_for("engine_listening")
    health_url = f"{listening['http']}/healthz"
    first = get_json(health_url)
    assert first["status"] == "ok"

    main = workdir / "dialplans" / "main.yaml"
    original = main.read_text(encoding="utf-8")
    main.write_text(original.replace("target: customer", "target: nowhere_at_all"), "utf-8")
    engine_process.process.send_signal(signal.SIGHUP)
    rejected = engine_process.wait_for("dialplan_rejected")
    assert "main.yaml:" in rejected["problem"]
    engine_process.wait_for("dialplan_reload_failed")
    assert get_json(health_url)["dialplans"] == first["dialplans"]

    main.write_text(original.replace("Anadolu Telecom customer line", "Changed line"), "utf-8")
    engine_process.process.send_signal(signal.SIGHUP)
    engine_process.wait_for("dialplans_reloaded")
    assert get_json(health_url)["dialplans"] != first["dialplans"]

    assert engine_process.stop() == 0
    assert engine_process.wait_for("engine_stopped")
    logged = json.dumps(engine_process.lines)
    assert "not-logged-token" not in logged
