"""Computer-telephony integration: the agent and supervisor API, screen pops and pages.

The engine calls ``setup(app, desk=..., bus=..., settings=...)`` once; see ``cti.app``.
"""

from __future__ import annotations

from cti.app import setup
from cti.ports import AgentDesk, DeskError, InteractionHistory
from cti.settings import CtiSettings, demo_user_warnings

__all__ = [
    "AgentDesk",
    "CtiSettings",
    "DeskError",
    "InteractionHistory",
    "demo_user_warnings",
    "setup",
]
