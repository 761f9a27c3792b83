"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

REPOSITORY = Path(__file__).resolve().parent.parent
ARTIFACTS = REPOSITORY / "test-artifacts"


def require_program(name: str) -> str:
    """Return the path of program ``name``; skip without it, but fail when CI is set.

    Tests against real peers (Kamailio, sipp, baresip, PostgreSQL, Chromium) must not pass
    silently in CI because a package is missing.
    """
    path = shutil.which(name)
    if path is None and Path(name).is_absolute() and Path(name).exists():
        path = name
    if path is None:
        message = f"{name} is not installed; run scripts/test.sh to install the test peers"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def artifacts_dir(request: pytest.FixtureRequest) -> Path:
    """A folder under ``test-artifacts/`` for this test's screenshots and captures."""
    folder = ARTIFACTS / request.node.name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(autouse=True)
def _restore_structlog() -> Iterator[None]:
    """Undo structlog configuration a test makes, such as a CLI command run in process."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)
