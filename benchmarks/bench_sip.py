"""Concurrent SIP calls one santral process carries through the IVR, with 20 ms pacing.

Starts Kamailio on 127.0.0.1, the engine with the shipped config and sample dialplans, the
SIP connector registered as extension 100 (a number of the sample IVR), and sipp placing N
calls that each listen to the IVR for 10 s without pressing keys. While all N calls are
up it measures how late each 20 ms media tick starts, the process CPU time and its
resident memory.

    .venv/bin/python benchmarks/bench_sip.py 50 100 150
"""

from __future__ import annotations

import asyncio
import os
import platform
import resource
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import structlog

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

from santral.clock import ShiftedClock  # noqa: E402
from santral.config import load_config  # noqa: E402
from santral.engine import Engine  # noqa: E402
from santral.telephony.sip.connector import SipConnector  # noqa: E402
from santral.telephony.sip.settings import SipSettings  # noqa: E402
from santral.testing.sip_peers import Kamailio, free_udp_port, run_sipp  # noqa: E402

SCENARIO = REPOSITORY / "tests" / "sip" / "scenarios" / "caller_listen.xml"
# A Monday at 10:00 in Istanbul, when the sample dialplans are open for business.
MONDAY_MORNING = datetime.fromisoformat("2026-12-07T10:00:00+03:00").timestamp()


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def start_engine(workdir: Path) -> Engine:
    """Start the engine on the shipped config and sample dialplans, at a Monday 10:00."""
    environ = {"SANTRAL_HTTP__PORT": "0", "SANTRAL_STORE__URL": f"sqlite:///{workdir / 'bench.db'}"}
    config = load_config(REPOSITORY / "config.yaml", environ=environ)
    engine = Engine(config, clock=ShiftedClock(MONDAY_MORNING), environ=environ)
    await engine.start()
    return engine


async def measure(calls: int, kamailio: Kamailio, workdir: Path) -> dict[str, float]:
    engine = await start_engine(workdir)
    assert engine.calls is not None
    settings = SipSettings(
        enabled=True,
        port=kamailio.port,
        extensions=["100"],
        local_port=free_udp_port(),
        rtp_port_min=40000,
        rtp_port_max=40000 + 4 * calls + 10,
    )
    connector = SipConnector(settings, engine.calls, clock=engine.clock, bus=engine.bus)
    engine.calls.register_control(connector)
    await connector.start()
    rss_before = rss_mib()
    sipp = asyncio.create_task(
        run_sipp(
            SCENARIO,
            proxy_port=kamailio.port,
            service="100",
            workdir=workdir,
            time_limit=60,
            calls=calls,
            rate=50,
        )
    )
    for _ in range(400):
        if len(connector.media.legs) >= calls:
            break
        await asyncio.sleep(0.05)
    up = len(connector.media.legs)
    connector.media.lateness.clear()
    cpu_before, wall_before = cpu_seconds(), time.monotonic()
    await asyncio.sleep(4.0)
    cpu = cpu_seconds() - cpu_before
    wall = time.monotonic() - wall_before
    lateness = np.array(connector.media.lateness or [float("nan")]) * 1000
    rss_peak = rss_mib()
    result = await sipp
    await connector.stop()
    await engine.stop()
    return {
        "calls": calls,
        "up": up,
        "sipp_ok": float(result.returncode == 0),
        "tick_p50_ms": float(np.percentile(lateness, 50)),
        "tick_p99_ms": float(np.percentile(lateness, 99)),
        "tick_max_ms": float(lateness.max()),
        "late_share": float((lateness > 5).mean()),
        "cpu_share": cpu / wall,
        "cpu_ms_per_call_s": 1000 * cpu / wall / max(up, 1),
        "rss_kib_per_call": 1024 * (rss_peak - rss_before) / max(up, 1),
    }


def cpu_model() -> str:
    return next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown",
    )


async def main(counts: list[int]) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    print(f"machine: {os.cpu_count()} CPUs, {cpu_model()}, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as folder:
        kamailio = Kamailio(
            REPOSITORY / "tests" / "sip" / "kamailio.cfg", Path(folder) / "kamailio"
        )
        kamailio.start()
        try:
            for calls in counts:
                row = await measure(calls, kamailio, Path(folder) / f"sipp-{calls}")
                print(" ".join(f"{key}={value:.2f}" for key, value in row.items()), flush=True)
        finally:
            kamailio.stop()


if __name__ == "__main__":
    asyncio.run(main([int(arg) for arg in sys.argv[1:]] or [50, 100]))
