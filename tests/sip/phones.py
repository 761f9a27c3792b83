"""baresip phones for the SIP tests, and reading which tones their recordings contain."""

from __future__ import annotations

import asyncio
import subprocess
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from santral.testing.sip_peers import Baresip, Kamailio
from tests.conftest import require_program

TONE_WINDOW = 0.1  # seconds of audio per tone label
TONE_BAND = 25.0  # Hz either side of a tone's frequency that counts as that tone
MIN_TONE_WINDOWS = 3  # shorter runs are jitter at a switch of bridges, not a segment


async def wait_until(predicate: Callable[[], object], limit: float = 10.0) -> None:
    """Poll ``predicate`` every 50 ms and fail the test if it stays false ``limit`` seconds."""
    for _ in range(int(limit / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"condition not met within {limit} s")


async def start_phone(
    kamailio: Kamailio, workdir: Path, user: str, source: Path, *, answer: str = "auto"
) -> Baresip:
    """Start baresip as ``user`` sending ``source``, and wait until it has registered."""
    require_program("baresip")
    phone = Baresip(user, kamailio.port, workdir, source, answer=answer)
    phone.start()
    for _ in range(50):
        if phone.process is None or phone.process.poll() is not None:
            break
        if await asyncio.to_thread(kamailio.is_registered, user):
            return phone
        await asyncio.sleep(0.1)
    phone.stop()
    log = (phone.workdir / "baresip.log").read_text(errors="replace")[-1500:]
    pytest.fail(f"baresip {user} did not register within 5 s:\n{log}")


def write_tone(path: Path, frequency: int, seconds: float = 60.0) -> Path:
    """Write an 8 kHz mono sine tone, long enough: baresip hangs up when its source ends."""
    require_program("sox")
    command = ["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(path)]
    command += ["synth", str(seconds), "sine", str(frequency), "vol", "0.5"]
    subprocess.run(command, check=True, timeout=10)
    return path


def received_recording(phone: Baresip) -> Path:
    """The WAV baresip's sndfile module wrote of what ``phone`` received in its one call."""
    received = [path for path in phone.recordings() if path.name.endswith("-dec.wav")]
    assert len(received) == 1, f"expected one received recording in {phone.workdir}"
    return received[0]


def tone_segments(path: Path, tones: tuple[int, ...]) -> list[int]:
    """Return which of ``tones`` the recording contains, in order, one entry per segment.

    Each 100 ms window gets the tone with more than half of its power, or no tone when the
    window is quiet or no tone is that strong. Runs shorter than 300 ms are left out, and
    neighbouring windows of the same tone form one segment.
    """
    with wave.open(str(path), "rb") as reader:
        samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype=np.int16)
        rate = reader.getframerate()
    size = int(rate * TONE_WINDOW)
    windows = samples[: len(samples) // size * size].reshape(-1, size).astype(np.float64)
    labels = [_window_tone(window, rate, tones) for window in windows]
    return _segments(labels)


def _window_tone(window: np.ndarray, rate: int, tones: tuple[int, ...]) -> int:
    if np.sqrt((window**2).mean()) < 200:
        return 0
    power = np.abs(np.fft.rfft(window)) ** 2
    frequencies = np.fft.rfftfreq(len(window), 1 / rate)
    total = power.sum()
    for tone in tones:
        band = power[np.abs(frequencies - tone) <= TONE_BAND].sum()
        if band > total / 2:
            return tone
    return 0


def _segments(labels: list[int]) -> list[int]:
    runs: list[tuple[int, int]] = []
    for label in labels:
        if runs and runs[-1][0] == label:
            runs[-1] = (label, runs[-1][1] + 1)
        else:
            runs.append((label, 1))
    segments: list[int] = []
    for label, length in runs:
        if label and length >= MIN_TONE_WINDOWS and (not segments or segments[-1] != label):
            segments.append(label)
    return segments
