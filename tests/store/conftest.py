"""Store fixtures: one SQLite file per test, and a PostgreSQL server per test session.

``database_url`` is parametrized over both databases, so every store test that takes it
runs once on each. Other test folders may import ``postgres`` and ``database_url``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from santral.testing.postgres import POSTGRES_BIN, PostgresServer, postgres_server
from tests.conftest import require_program

_database_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL 15 server started for this test session."""
    require_program(str(POSTGRES_BIN / "postgres"))
    with postgres_server() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of an empty database: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'santral.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database(f"store_test_{next(_database_numbers)}")
