"""A throw-away PostgreSQL server for tests, started from the Debian binaries.

``initdb`` and ``postgres`` refuse to run as root, so when the test runs as root the
server runs as the ``postgres`` user in a temporary folder owned by that user. The server
listens on 127.0.0.1 and a private Unix socket only, and is stopped with SIGINT (a fast
shutdown) by its process id.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")
START_TIMEOUT = 20.0


class PostgresStartError(RuntimeError):
    """The test server did not start; the message includes its log."""


@dataclass(frozen=True)
class PostgresServer:
    """A running test server; ``url(database)`` builds a connection URL for it."""

    host: str
    port: int
    user: str

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create database ``name`` (a plain identifier) and return its URL."""
        if not name.isidentifier():
            raise ValueError(f"database name {name!r} must be a plain identifier")
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return self.url(name)


@contextmanager
def postgres_server(bin_dir: Path = POSTGRES_BIN) -> Iterator[PostgresServer]:
    """Initialise and start a server in a temporary folder; stop it and delete the folder."""
    user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    folder = Path(tempfile.mkdtemp(prefix="santral-pg-"))
    try:
        _prepare_folder(folder, user)
        _run_initdb(bin_dir, folder, user)
        port = _free_port()
        process = _start(bin_dir, folder, user, port)
        try:
            _wait_ready(process, folder, user, port)
            yield PostgresServer("127.0.0.1", port, user)
        finally:
            _stop(process)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _prepare_folder(folder: Path, user: str) -> None:
    (folder / "data").mkdir()
    (folder / "socket").mkdir()
    if os.geteuid() == 0:
        record = pwd.getpwnam(user)
        for path in (folder, folder / "data", folder / "socket"):
            os.chown(path, record.pw_uid, record.pw_gid)


def _run_initdb(bin_dir: Path, folder: Path, user: str) -> None:
    result = subprocess.run(
        [str(bin_dir / "initdb"), "-D", str(folder / "data"), "-U", user,
         "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"],
        user=_run_as(user), capture_output=True, text=True, check=False, timeout=60,
    )
    if result.returncode != 0:
        raise PostgresStartError(f"initdb failed ({result.returncode}): {result.stderr}")


def _start(bin_dir: Path, folder: Path, user: str, port: int) -> subprocess.Popen[bytes]:
    log_file = open(folder / "server.log", "wb")  # noqa: SIM115 (closed with the process)
    with log_file:
        return subprocess.Popen(
            [str(bin_dir / "postgres"), "-D", str(folder / "data"), "-k", str(folder / "socket"),
             "-p", str(port), "-h", "127.0.0.1", "-c", "fsync=off",
             "-c", "full_page_writes=off", "-c", "max_connections=50"],
            user=_run_as(user), stdout=log_file, stderr=subprocess.STDOUT,
        )


def _wait_ready(process: subprocess.Popen[bytes], folder: Path, user: str, port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with psycopg.connect(f"postgresql://{user}@127.0.0.1:{port}/postgres"):
                return
        except psycopg.OperationalError:
            time.sleep(0.05)
    log_text = (folder / "server.log").read_text(errors="replace")
    raise PostgresStartError(f"postgres did not accept connections on {port}:\n{log_text}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _run_as(user: str) -> str | None:
    return user if os.geteuid() == 0 else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
