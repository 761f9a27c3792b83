"""The event loop that ``santral run`` starts, chosen by ``event_loop``."""

from __future__ import annotations

import asyncio
import builtins
from typing import Any

import pytest

from santral.config import load_config
from santral.engine import loop_factory


def test_uvloop_is_the_default() -> None:
    config = load_config(None, environ={})

    assert config.event_loop == "uvloop"
    loop = loop_factory(config.event_loop)()
    try:
        assert type(loop).__module__.startswith("uvloop")
    finally:
        loop.close()


def test_environment_selects_asyncio() -> None:
    config = load_config(None, environ={"SANTRAL_EVENT_LOOP": "asyncio"})

    loop = loop_factory(config.event_loop)()
    try:
        assert isinstance(loop, asyncio.BaseEventLoop)
        assert not type(loop).__module__.startswith("uvloop")
    finally:
        loop.close()


def test_missing_uvloop_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def without_uvloop(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "uvloop":
            raise ImportError("No module named 'uvloop'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_uvloop)

    assert loop_factory("uvloop") is asyncio.new_event_loop
