"""Prompt audio for SIP calls: recorded WAV files, TTS with espeak-ng, silence.

Files are converted to 8 kHz 16-bit mono with sox when they are in another format. Text is
rendered by espeak-ng (then converted by sox); both run as subprocesses with a timeout.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import wave
from collections.abc import Callable
from pathlib import Path

import structlog

from ivr.actions import Prompt
from santral.errors import ConnectorError
from santral.telephony.sip import rtp

log = structlog.get_logger(__name__)

SUBPROCESS_TIMEOUT = 15.0
Frames = tuple[bytes, ...]


def split_frames(pcm: bytes) -> Frames:
    """Cut PCM into 20 ms frames, padding the last one with silence."""
    size = rtp.FRAME_BYTES
    padded = pcm + bytes(-len(pcm) % size)
    return tuple(padded[offset : offset + size] for offset in range(0, len(padded), size))


def read_telephony_wav(path: Path) -> bytes | None:
    """Return the PCM of an 8 kHz 16-bit mono WAV file, or None if it has another format."""
    with wave.open(str(path), "rb") as reader:
        if (reader.getframerate(), reader.getsampwidth(), reader.getnchannels()) != (8000, 2, 1):
            return None
        return reader.readframes(reader.getnframes())


async def _run(*command: str) -> None:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), SUBPROCESS_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise ConnectorError(f"{command[0]} timed out after {SUBPROCESS_TIMEOUT} s") from None
    if process.returncode != 0:
        message = stderr.decode(errors="replace").strip()
        raise ConnectorError(f"{command[0]} failed with exit code {process.returncode}: {message}")


class PromptLibrary:
    """Source of 20 ms frames for IVR prompts, caching every file and rendered text."""

    def __init__(
        self,
        prompt_file: Callable[[str, str], Path | None],
        cache_dir: Path,
        *,
        voice: str = "en-us",
    ) -> None:
        self._prompt_file = prompt_file
        self._cache_dir = cache_dir
        self._voice = voice
        self._frames: dict[str, Frames] = {}

    async def frames(self, prompts: list[Prompt]) -> Frames:
        """Return the frames of ``prompts`` played one after another."""
        result: list[bytes] = []
        for prompt in prompts:
            result += await self.prompt_frames(prompt)
        return tuple(result)

    async def prompt_frames(self, prompt: Prompt) -> Frames:
        if prompt.type == "silence":
            count = round(float(prompt.value or 0) / rtp.FRAME_SECONDS)
            return (rtp.SILENCE_FRAME,) * max(count, 0)
        if prompt.type == "file":
            path = self._prompt_file(prompt.language, prompt.value)
            if path is not None:
                return await self.file_frames(path)
            log.warning("prompt_missing", prompt=prompt.value, language=prompt.language)
            return await self.text_frames(
                prompt.text or prompt.value.replace("-", " "), prompt.language
            )
        text = " ".join(prompt.value) if prompt.type == "digits" else prompt.value
        return await self.text_frames(text, prompt.language)

    async def file_frames(self, path: Path) -> Frames:
        key = f"file:{path}"
        if key not in self._frames:
            pcm = await asyncio.to_thread(read_telephony_wav, path)
            if pcm is None:
                pcm = await self._convert(path)
            self._frames[key] = split_frames(pcm)
        return self._frames[key]

    async def text_frames(self, text: str, language: str) -> Frames:
        """Render ``text`` with espeak-ng; raise ``ConnectorError`` if it is not installed."""
        voice = self._voice if language in ("", "en") else language
        key = f"tts:{voice}:{text}"
        if key not in self._frames:
            if shutil.which("espeak-ng") is None:
                raise ConnectorError(
                    "espeak-ng is not installed, so prompts without files cannot be spoken"
                )
            digest = hashlib.sha256(key.encode()).hexdigest()[:16]
            raw = self._cache_dir / f"tts-{digest}.raw.wav"
            self._cache_dir.mkdir(parents=True, exist_ok=True)
            await _run("espeak-ng", "-v", voice, "-w", str(raw), text)
            self._frames[key] = split_frames(await self._convert(raw))
        return self._frames[key]

    async def _convert(self, path: Path) -> bytes:
        if shutil.which("sox") is None:
            raise ConnectorError(
                f"{path} is not 8 kHz 16-bit mono and sox is not installed to convert it"
            )
        target = self._cache_dir / f"conv-{hashlib.sha256(str(path).encode()).hexdigest()[:16]}.wav"
        self._cache_dir.mkdir(parents=True, exist_ok=True)
        await _run("sox", str(path), "-r", "8000", "-c", "1", "-b", "16", str(target))
        pcm = await asyncio.to_thread(read_telephony_wav, target)
        if pcm is None:
            raise ConnectorError(f"sox did not convert {path} to 8 kHz 16-bit mono")
        return pcm


def check_prompt_sources(missing_files: list[str]) -> list[str]:
    """Return problems for ``santral check``: missing prompt files that cannot fall back to TTS."""
    if not missing_files or shutil.which("espeak-ng") is not None:
        return []
    return [
        f"prompt file {name!r} is missing and espeak-ng is not installed for the TTS fallback; "
        "add the recording or install espeak-ng"
        for name in missing_files
    ]


def check_media_settings(music_on_hold: Path | None) -> list[str]:
    """Return problems for ``santral check`` with the SIP connector's media programs and files."""
    problems: list[str] = []
    if music_on_hold is not None and not music_on_hold.is_file():
        problems.append(
            f"sip.music_on_hold {music_on_hold} is not a file; set an existing WAV file or null"
        )
    if shutil.which("espeak-ng") is None:
        problems.append(
            "espeak-ng is not installed, so SIP calls cannot speak prompts that have no "
            "recording (TTS prompts, digits, numbers); install espeak-ng"
        )
    return problems
