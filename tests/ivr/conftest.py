"""Helpers for the IVR tests: dialplans written to a temporary folder, a virtual clock."""

from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from ivr.dialplans import DialplanSet
from ivr.loader import load_dialplans
from ivr.settings import IvrSettings
from santral.clock import VirtualClock

REPOSITORY = Path(__file__).resolve().parents[2]
SHIPPED_DIALPLANS = REPOSITORY / "dialplans"
MONDAY_10_ISTANBUL = dt.datetime.fromisoformat("2026-12-07T10:00:00+03:00").timestamp()


@pytest.fixture
def settings(tmp_path: Path) -> IvrSettings:
    return IvrSettings(
        dialplans=tmp_path / "dialplans",
        recordings=tmp_path / "recordings",
        time_zone="Europe/Istanbul",
    )


@pytest.fixture
def shipped() -> DialplanSet:
    settings = IvrSettings(dialplans=SHIPPED_DIALPLANS, recordings=REPOSITORY / "recordings")
    return load_dialplans(SHIPPED_DIALPLANS, settings)


@pytest.fixture
def write(settings: IvrSettings) -> Callable[[str, str], Path]:
    """Write a dialplan file (dedented) into the settings' dialplan folder."""

    def write_file(name: str, text: str) -> Path:
        settings.dialplans.mkdir(parents=True, exist_ok=True)
        path = settings.dialplans / name
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return path

    return write_file


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(MONDAY_10_ISTANBUL)
