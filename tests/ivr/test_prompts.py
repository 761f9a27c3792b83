"""Prompt files: resolution and rendering with espeak-ng and sox."""

from __future__ import annotations

import wave
from collections.abc import Callable
from pathlib import Path

import pytest

from ivr.loader import load_dialplans
from ivr.prompts import PromptError, render_all, resolve
from ivr.settings import IvrSettings
from tests.conftest import require_program
from tests.ivr.conftest import REPOSITORY, SHIPPED_DIALPLANS

Write = Callable[[str, str], Path]

GREETING = """
    start: hello
    prompts:
      welcome: {en: Welcome, tr: Hoş geldiniz}
    nodes:
      hello: {kind: play, prompts: welcome}
"""


def test_resolve_finds_shipped_recording() -> None:
    settings = IvrSettings(recordings=REPOSITORY / "recordings")

    assert resolve(settings, "tr", "main_menu") == REPOSITORY / "recordings/tr/main_menu.wav"
    assert resolve(settings, "tr", "missing") is None


def test_every_declared_prompt_is_committed() -> None:
    settings = IvrSettings(dialplans=SHIPPED_DIALPLANS, recordings=REPOSITORY / "recordings")
    dialplans = load_dialplans(SHIPPED_DIALPLANS, settings)

    for plan in dialplans.dialplans.values():
        for name, texts in plan.header.prompts.items():
            for language in texts:
                path = resolve(settings, language, name)
                assert path is not None, f"{language}/{name}.wav: run santral prompts render"
                with wave.open(str(path)) as audio:
                    assert (audio.getframerate(), audio.getnchannels(), audio.getsampwidth()) == (
                        8000,
                        1,
                        2,
                    )


async def test_render_writes_8khz_mono_wav(write: Write, settings: IvrSettings) -> None:
    require_program("espeak-ng")
    require_program("sox")
    write("hello.yaml", GREETING)
    dialplans = load_dialplans(settings.dialplans, settings)

    written = await render_all(dialplans, languages=["tr"])

    assert written == [settings.recordings / "tr" / "welcome.wav"]
    with wave.open(str(written[0])) as audio:
        assert audio.getframerate() == 8000
        assert audio.getnchannels() == 1
        assert audio.getsampwidth() == 2
        assert audio.getnframes() > 1000


async def test_render_missing_only_skips_existing(write: Write, settings: IvrSettings) -> None:
    write("hello.yaml", GREETING)
    for language in ("en", "tr"):
        (settings.recordings / language).mkdir(parents=True)
        (settings.recordings / language / "welcome.wav").write_bytes(b"RIFF")
    dialplans = load_dialplans(settings.dialplans, settings)

    assert await render_all(dialplans, missing_only=True) == []


async def test_unknown_voice_is_rejected(write: Write, settings: IvrSettings) -> None:
    require_program("espeak-ng")
    require_program("sox")
    write("hello.yaml", GREETING)
    settings = settings.model_copy(update={"tts_voices": {"en": "en-us", "tr": "klingon"}})
    dialplans = load_dialplans(settings.dialplans, settings)

    with pytest.raises(PromptError, match="no voice 'klingon'"):
        await render_all(dialplans)
    assert not (settings.recordings / "tr" / "welcome.wav").exists()
