"""Numbered SQL migrations applied at start and recorded in ``schema_migrations``.

A migration is a file ``NNNN_name.sql`` in ``santral/store/migrations/``. Each runs in
its own transaction, so a failed one leaves the schema at the previous version.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import structlog

from santral.store.database import Database

log = structlog.get_logger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    def statements(self, autoincrement_key: str) -> list[str]:
        """Split the file into statements, with the database's autoincrement key filled in."""
        lines = [line for line in self.sql.splitlines() if not line.strip().startswith("--")]
        text = "\n".join(lines).replace("{autoincrement_key}", autoincrement_key)
        return [part.strip() for part in text.split(";") if part.strip()]


def load_migrations(folder: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Read every migration file in ``folder``, ordered by version."""
    migrations = []
    for path in sorted(folder.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise ValueError(f"migration file {path.name} must be named NNNN_name.sql")
        text = path.read_text(encoding="utf-8")
        migrations.append(Migration(int(match.group(1)), match.group(2), text))
    return migrations


def migrate(database: Database, migrations: list[Migration] | None = None) -> list[int]:
    """Apply the migrations not yet recorded and return their versions."""
    migrations = load_migrations() if migrations is None else migrations
    database.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
    )
    applied = []
    for migration in migrations:
        with database.transaction():
            database.lock_migrations()
            if _is_applied(database, migration.version):
                continue
            for statement in migration.statements(database.autoincrement_key):
                database.execute(statement)
            database.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, time.time()),
            )
        log.info("store_migration_applied", version=migration.version, name=migration.name)
        applied.append(migration.version)
    return applied


def _is_applied(database: Database, version: int) -> bool:
    rows = database.query("SELECT 1 AS found FROM schema_migrations WHERE version = ?", (version,))
    return bool(rows)
