"""A store process killed with SIGKILL loses at most the last second and stays consistent."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from santral.store import StoreSettings, open_store
from tests.conftest import REPOSITORY

MAX_CALLS = 2_000_000
RUN_SECONDS = 2.0


def _run_and_kill(url: str) -> tuple[list[tuple[int, float]], float]:
    """Start the writer, let it publish for RUN_SECONDS, SIGKILL it; return its progress."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.store.crash_writer", url, str(MAX_CALLS)],
        cwd=REPOSITORY, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
    )
    assert child.stdout is not None
    progress: list[tuple[int, float]] = []
    try:
        for line in child.stdout:  # bounded: the child prints at most MAX_CALLS / 20 lines
            if not line.startswith("published "):
                continue  # a log line of the store
            _, count, stamp = line.split()
            progress.append((int(count), float(stamp)))
            if time.time() - progress[0][1] > RUN_SECONDS:
                break
        os.kill(child.pid, signal.SIGKILL)
        killed_at = time.time()
    finally:
        child.kill()
        child.wait(timeout=10)
        child.stdout.close()
    return progress, killed_at


@pytest.mark.slow
async def test_sigkill_loses_at_most_last_second(database_url: str) -> None:
    progress, killed_at = _run_and_kill(database_url)
    if database_url.startswith("sqlite:///"):
        path = database_url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as connection:
            check = connection.execute("PRAGMA integrity_check").fetchone()
        assert check == ("ok",)
    safe = max((count for count, stamp in progress if stamp <= killed_at - 1.0), default=0)
    store = await open_store(StoreSettings(url=database_url))
    rows = await store.run(lambda database: database.query(
        "SELECT COUNT(*) AS n FROM interactions"))
    events = await store.run(lambda database: database.query(
        "SELECT COUNT(*) AS n FROM events"))
    await store.close()

    assert safe > 0, "the writer published nothing more than a second before the kill"
    assert rows[0]["n"] >= safe
    assert rows[0]["n"] == events[0]["n"]  # a batch is written whole or not at all
