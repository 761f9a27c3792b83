"""Prompt recordings: where they live and how their TTS text becomes WAV files.

A recording is ``recordings/<language>/<name>.wav``, 8 kHz mono 16-bit PCM, the format
every connector plays without converting. ``render_all`` speaks each text that the
dialplans declare under ``prompts:`` with espeak-ng and converts it with sox, both run as
asyncio subprocesses.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

import structlog

from ivr.dialplans import DialplanSet
from ivr.settings import IvrSettings
from santral.errors import SantralError

log = structlog.get_logger(__name__)

SAMPLE_RATE = 8000
CONCURRENCY = 4
SUBPROCESS_TIMEOUT = 60.0


class PromptError(SantralError):
    """Rendering prompts failed: a program is missing, a voice is unknown, or a tool failed."""


def prompt_path(settings: IvrSettings, language: str, name: str) -> Path:
    return settings.recordings / language / f"{name}.wav"


def resolve(settings: IvrSettings, language: str, name: str) -> Path | None:
    """Return the recording of ``name`` in ``language``, or None if there is no file."""
    path = prompt_path(settings, language, name)
    return path if path.is_file() else None


def declared_prompts(dialplans: DialplanSet) -> dict[tuple[str, str], str]:
    """Return ``(language, name) -> text`` for every prompt text the dialplans declare."""
    texts: dict[tuple[str, str], str] = {}
    for plan in dialplans.dialplans.values():
        for name, per_language in plan.header.prompts.items():
            for language, text in per_language.items():
                texts[(language, name)] = text
    return texts


async def render_all(
    dialplans: DialplanSet, *, missing_only: bool = False, languages: list[str] | None = None
) -> list[Path]:
    """Render declared prompts and return the files written.

    Raise ``PromptError`` if espeak-ng or sox is missing, a language has no voice in
    ``ivr.tts_voices``, or the voice is not installed (espeak-ng would silently speak
    English with an unknown voice name).
    """
    settings = dialplans.settings
    selected = set(languages or settings.languages)
    jobs = {
        key: text
        for key, text in sorted(declared_prompts(dialplans).items())
        if key[0] in selected
        and not (missing_only and resolve(settings, key[0], key[1]) is not None)
    }
    if not jobs:
        return []

    espeak, sox = _program("espeak-ng"), _program("sox")
    voices = await installed_voices(espeak)
    for language in {language for language, _ in jobs}:
        _check_voice(settings, language, voices)

    limit = asyncio.Semaphore(CONCURRENCY)

    async def render_one(language: str, name: str, text: str) -> Path:
        async with limit:
            output = prompt_path(settings, language, name)
            await render_prompt(espeak, sox, settings.tts_voices[language], text, output)
            return output

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(render_one(*key, text)) for key, text in jobs.items()]
    return [task.result() for task in tasks]


def _program(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise PromptError(f"{name} is not installed; install it (Debian: apt-get install {name})")
    return path


def _check_voice(settings: IvrSettings, language: str, voices: set[str]) -> None:
    voice = settings.tts_voices.get(language)
    if voice is None:
        raise PromptError(
            f"no TTS voice for language {language!r}; set ivr.tts_voices.{language} "
            "to an espeak-ng voice (see 'espeak-ng --voices')"
        )
    if voice not in voices:
        raise PromptError(
            f"espeak-ng has no voice {voice!r} (ivr.tts_voices.{language}); "
            "pick one listed by 'espeak-ng --voices'"
        )


async def installed_voices(espeak: str) -> set[str]:
    """Return the language codes, voice names and files ``espeak-ng --voices`` lists."""
    output = await _run([espeak, "--voices"])
    voices: set[str] = set()
    for line in output.splitlines()[1:]:
        columns = line.split()
        if len(columns) >= 5:
            voices.update({columns[1], columns[3], columns[4]})
    return voices


async def render_prompt(espeak: str, sox: str, voice: str, text: str, output: Path) -> None:
    """Speak ``text`` with ``voice`` into ``output`` as 8 kHz mono 16-bit WAV."""
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        spoken = Path(folder) / "spoken.wav"
        await _run([espeak, "-v", voice, "-w", str(spoken), "--", text])
        converted = Path(folder) / "converted.wav"
        await _run(
            [
                sox,
                str(spoken),
                "-r",
                str(SAMPLE_RATE),
                "-c",
                "1",
                "-b",
                "16",
                "-e",
                "signed-integer",
                str(converted),
            ]
        )
        converted.replace(output)
    log.info("prompt_rendered", path=str(output), voice=voice)


async def _run(command: list[str]) -> str:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), SUBPROCESS_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise PromptError(f"{command[0]} timed out after {SUBPROCESS_TIMEOUT:g} s") from None
    if process.returncode != 0:
        message = stderr.decode(errors="replace").strip()
        raise PromptError(f"{Path(command[0]).name} failed ({process.returncode}): {message}")
    return stdout.decode(errors="replace")
