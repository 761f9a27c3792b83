"""What a queued Twilio caller hears, without I/O: announcements and music in segments.

A ``<Play>`` cannot be cut short, so santral serves the hold music in segments of
``queue_poll_interval`` seconds. Between two segments Twilio comes back to the wait loop,
which is where santral announces the caller's position and notices the queue's outcome.
"""

from __future__ import annotations

import io
import math
import wave
from dataclasses import dataclass
from pathlib import Path

from ivr.actions import Prompt
from santral.telephony.base import QueueStatus

POSITION_TEXT = {
    "en": "You are number {position} in the queue.",
    "tr": "Sırada {position}. sıradasınız.",
}
WAIT_TEXT = {
    "en": "The estimated wait is about {minutes} minutes.",
    "tr": "Tahmini bekleme süresi yaklaşık {minutes} dakikadır.",
}


@dataclass(frozen=True)
class Announcement:
    """The prompts for one pass of the wait loop and the next periodic prompt index."""

    prompts: list[Prompt]
    announced: bool
    periodic_index: int


def announcement(
    status: QueueStatus, language: str, *, now: float, announced_at: float, periodic_index: int
) -> Announcement:
    """Decide what to announce now: at once on entry, then every ``announce_every`` seconds."""
    due = announced_at < 0 or now - announced_at >= status.announce_every
    if not due:
        return Announcement([], False, periodic_index)
    prompts: list[Prompt] = []
    if status.announce_position and status.position > 0:
        text = POSITION_TEXT.get(language, POSITION_TEXT["en"])
        prompts.append(_speak(text.format(position=status.position), language))
    if status.announce_wait and status.estimated_wait is not None:
        minutes = max(1, math.ceil(status.estimated_wait / 60))
        text = WAIT_TEXT.get(language, WAIT_TEXT["en"])
        prompts.append(_speak(text.format(minutes=minutes), language))
    if status.periodic_prompts and announced_at >= 0:
        name = status.periodic_prompts[periodic_index % len(status.periodic_prompts)]
        prompts.append(Prompt(type="file", value=name, language=language))
        periodic_index += 1
    return Announcement(prompts, True, periodic_index)


def _speak(text: str, language: str) -> Prompt:
    language = language if language in POSITION_TEXT else "en"
    return Prompt(type="tts", value=text, language=language)


class HoldMusic:
    """A WAV file cut into segments of ``segment_seconds``; segments are cached once built."""

    def __init__(self, path: Path, segment_seconds: float) -> None:
        self._path = path
        self._segment_seconds = segment_seconds
        self._cache: dict[int, bytes] = {}
        with wave.open(str(path), "rb") as reader:
            self._params = reader.getparams()
        frames_per_segment = max(1, int(self._params.framerate * segment_seconds))
        self._frames_per_segment = frames_per_segment
        self.parts = max(1, math.ceil(self._params.nframes / frames_per_segment))

    def segment(self, part: int) -> bytes:
        """Return segment ``part`` (taken modulo the number of segments) as a WAV file."""
        part %= self.parts
        cached = self._cache.get(part)
        if cached is None:
            cached = self._cut(part)
            self._cache[part] = cached
        return cached

    def _cut(self, part: int) -> bytes:
        with wave.open(str(self._path), "rb") as reader:
            reader.setpos(part * self._frames_per_segment)
            frames = reader.readframes(self._frames_per_segment)
        output = io.BytesIO()
        with wave.open(output, "wb") as writer:
            writer.setnchannels(self._params.nchannels)
            writer.setsampwidth(self._params.sampwidth)
            writer.setframerate(self._params.framerate)
            writer.writeframes(frames)
        return output.getvalue()
