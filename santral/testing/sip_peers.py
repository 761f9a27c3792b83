"""Real SIP peers for tests: Kamailio as registrar and proxy, sipp callers, baresip phones.

Every peer listens on 127.0.0.1 only, runs as a child process whose pid the helper keeps,
and is stopped by that pid. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

LOOPBACK = "127.0.0.1"
START_TIMEOUT = 5.0
STOP_TIMEOUT = 5.0


def free_udp_port() -> int:
    """Return a UDP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def free_port_pair() -> int:
    """Return an even UDP port whose successor is free too (RTP and RTCP)."""
    for _ in range(50):
        port = free_udp_port() & ~1
        try:
            with (
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as first,
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as second,
            ):
                first.bind((LOOPBACK, port))
                second.bind((LOOPBACK, port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no free pair of UDP ports found on 127.0.0.1 after 50 tries")


def free_sip_port() -> int:
    """Return a port free for UDP and TCP on 127.0.0.1 whose successor is free too.

    baresip listens on UDP and TCP at its SIP port and on TLS at the next port.
    """
    for _ in range(50):
        port = free_port_pair()
        try:
            with contextlib.ExitStack() as stack:
                for kind, offset in ((socket.SOCK_STREAM, 0), (socket.SOCK_STREAM, 1)):
                    probe = stack.enter_context(socket.socket(socket.AF_INET, kind))
                    probe.bind((LOOPBACK, port + offset))
            return port
        except OSError:
            continue
    raise RuntimeError("no free SIP port for UDP, TCP and TLS found on 127.0.0.1 after 50 tries")


def stop_process(
    process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT, *, group: bool = False
) -> None:
    """Stop ``process`` by its pid: SIGTERM, then SIGKILL after ``timeout`` seconds.

    With ``group`` the whole process group led by ``process`` gets the signals, so forked
    workers (Kamailio's children) cannot outlive it. The group must have been started with
    ``start_new_session=True``.
    """
    if group:
        _signal_group(process, signal.SIGTERM)
    elif process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)
    if group:
        _signal_group(process, signal.SIGKILL)


def _signal_group(process: subprocess.Popen[bytes], signal_number: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal_number)


@dataclass
class Kamailio:
    """A Kamailio registrar and proxy started from ``config_template``."""

    config_template: Path
    workdir: Path
    port: int = field(default_factory=free_udp_port)
    with_auth: bool = False
    process: subprocess.Popen[bytes] | None = None

    @property
    def control_socket(self) -> Path:
        return self.workdir / "kamailio.ctl"

    def start(self) -> None:
        """Start Kamailio in the foreground and wait until it responds to OPTIONS."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.config_template.read_text(encoding="utf-8")
        config = config.replace("@PORT@", str(self.port)).replace("@CTL@", str(self.control_socket))
        path = self.workdir / "kamailio.cfg"
        path.write_text(config, encoding="utf-8")
        command = [
            "kamailio",
            "-f",
            str(path),
            "-DD",
            "-E",
            "-m",
            "32",
            "-M",
            "4",
            "-Y",
            str(self.workdir),
            "-P",
            str(self.workdir / "kamailio.pid"),
        ]
        if self.with_auth:
            command += ["-A", "WITH_AUTH"]
        with (self.workdir / "kamailio.log").open("wb") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        if not self._wait_ready():
            self.stop()
            raise RuntimeError(
                f"Kamailio did not respond to OPTIONS within {START_TIMEOUT} s; "
                f"see {self.workdir / 'kamailio.log'}"
            )

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((LOOPBACK, 0))
            probe.settimeout(0.1)
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    return False
                probe.sendto(_options(self.port, probe.getsockname()[1]), (LOOPBACK, self.port))
                try:
                    if probe.recv(4096).startswith(b"SIP/2.0 200"):
                        return True
                except TimeoutError:
                    continue
        return False

    def is_registered(self, user: str) -> bool:
        """True if ``user`` has a registration, read with kamcmd (5 s timeout)."""
        result = subprocess.run(
            ["kamcmd", "-s", f"unix:{self.control_socket}", "ul.lookup", "location", user],
            capture_output=True,
            timeout=5,
            check=False,
        )
        # kamcmd exits 0 and prints "error: 500 - AOR not found" for an unknown user.
        return result.returncode == 0 and not result.stdout.startswith(b"error")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, group=True)
            self.process = None


def _options(port: int, source_port: int) -> bytes:
    branch = f"z9hG4bK{uuid.uuid4().hex[:16]}"
    return (
        f"OPTIONS sip:{LOOPBACK}:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {LOOPBACK}:{source_port};branch={branch}\r\n"
        f"From: <sip:probe@{LOOPBACK}>;tag={uuid.uuid4().hex[:8]}\r\n"
        f"To: <sip:{LOOPBACK}:{port}>\r\nCall-ID: {uuid.uuid4().hex}\r\nCSeq: 1 OPTIONS\r\n"
        "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def send_info(contact: str, call_id: str) -> None:
    """Send an INFO with ``call_id`` but no dialog tags straight to the UA at ``contact``.

    sipp matches requests to its calls by Call-ID alone, so a scenario can wait for this
    INFO (``<recv request="INFO" optional="true" .../>``) as a cue, for example to hang up.
    ``contact`` is a Contact value such as ``<sip:caller@127.0.0.1:5062>``, on 127.0.0.1.
    """
    target = contact.strip("<>").split(";", 1)[0].split("@", 1)[-1]
    host, _, port = target.partition(":")
    if host != LOOPBACK:
        raise ValueError(f"contact {contact!r} is not on {LOOPBACK}; test peers only run there")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as link:
        link.bind((LOOPBACK, 0))
        source_port = link.getsockname()[1]
        message = (
            f"INFO sip:{target} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {LOOPBACK}:{source_port};branch=z9hG4bK{uuid.uuid4().hex[:16]}\r\n"
            f"From: <sip:driver@{LOOPBACK}>;tag={uuid.uuid4().hex[:8]}\r\n"
            f"To: <sip:{target}>\r\nCall-ID: {call_id}\r\nCSeq: 1 INFO\r\n"
            "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
        link.sendto(message.encode(), (LOOPBACK, int(port or 5060)))


@contextlib.contextmanager
def running_kamailio(
    config_template: Path, workdir: Path, *, with_auth: bool = False
) -> Iterator[Kamailio]:
    kamailio = Kamailio(config_template, workdir, with_auth=with_auth)
    kamailio.start()
    try:
        yield kamailio
    finally:
        kamailio.stop()


@dataclass(frozen=True)
class SippResult:
    returncode: int
    output: str


async def run_sipp(
    scenario: Path,
    *,
    proxy_port: int,
    service: str,
    workdir: Path,
    time_limit: float = 30.0,
    calls: int = 1,
    rate: int = 10,
    extra: tuple[str, ...] = (),
) -> SippResult:
    """Run sipp against the proxy on 127.0.0.1 and return its exit code and output.

    sipp gets ``-timeout`` slightly below ``time_limit`` and is killed by pid at ``time_limit``.
    """
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    command = [
        "sipp",
        f"{LOOPBACK}:{proxy_port}",
        "-sf",
        str(scenario),
        "-s",
        service,
        "-i",
        LOOPBACK,
        "-mi",
        LOOPBACK,
        "-p",
        str(free_udp_port()),
        "-mp",
        str(free_port_pair()),
        "-m",
        str(calls),
        "-l",
        str(calls),
        "-r",
        str(rate),
        "-nostdin",
        "-timeout",
        f"{max(1, int(time_limit) - 2)}s",
        "-timeout_error",
        "-trace_err",
        *extra,
    ]
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=workdir,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), time_limit)
    except TimeoutError:
        process.kill()
        output, _ = await process.communicate()
    return SippResult(
        process.returncode if process.returncode is not None else -1,
        output.decode(errors="replace"),
    )


# baresip


@dataclass
class Baresip:
    """A baresip phone registered as ``user`` that auto-answers and records each call."""

    user: str
    proxy_port: int
    workdir: Path
    audio_source: Path
    answer: str = "auto"  # "auto" answers at once, "manual" lets it ring
    sip_port: int = field(default_factory=free_sip_port)
    control_port: int = field(default_factory=free_sip_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "config").write_text(self._config(), encoding="utf-8")
        account = (
            f"<sip:{self.user}@{LOOPBACK}:{self.proxy_port};transport=udp>"
            f";regint=60;answermode={self.answer};audio_codecs=PCMU,PCMA\n"
        )
        (self.workdir / "accounts").write_text(account, encoding="utf-8")
        (self.workdir / "contacts").write_text("", encoding="utf-8")
        with (self.workdir / "baresip.log").open("wb") as log:
            self.process = subprocess.Popen(
                ["baresip", "-f", str(self.workdir), "-v"],
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "HOME": str(self.workdir)},
            )

    def _config(self) -> str:
        modules = "".join(
            f"module\t\t\t{name}.so\n"
            for name in ("g711", "aufile", "sndfile", "account", "menu", "ctrl_tcp")
        )
        return (
            f"sip_listen\t\t{LOOPBACK}:{self.sip_port}\n"
            f"net_interface\t\t{LOOPBACK}\n"
            "audio_player\t\taufile,/dev/null\n"
            f"audio_source\t\taufile,{self.audio_source}\n"
            "audio_alert\t\taufile,/dev/null\n"
            f"snd_path\t\t{self.workdir}\n"
            f"ctrl_tcp_listen\t\t{LOOPBACK}:{self.control_port}\n"
            "module_path\t\t/usr/lib/baresip/modules\n"
            f"{modules}"
            "module_app\t\tmenu.so\n"
        )

    def recordings(self) -> list[Path]:
        """WAV files sndfile wrote: one received (``-dec``) and one sent (``-enc``) per call."""
        return sorted(self.workdir.glob("dump-*.wav"))

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def command(self, name: str, params: str = "", timeout: float = 3.0) -> str:
        """Send a ctrl_tcp command as a netstring and return the raw reply.

        Connecting is retried for up to ``timeout`` seconds while baresip starts its listener.
        """
        body = json.dumps({"command": name, "params": params, "token": "t"}).encode()
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(
                    (LOOPBACK, self.control_port), timeout=timeout
                ) as link:
                    link.sendall(str(len(body)).encode() + b":" + body + b",")
                    return link.recv(65536).decode(errors="replace")
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def peers_available() -> bool:
    return all(shutil.which(name) for name in ("kamailio", "sipp", "baresip", "kamcmd"))
