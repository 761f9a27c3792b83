"""Retention and erasure: deleting records by age, and every record about one caller."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog

from santral.clock import Clock
from santral.store.database import Database
from santral.store.settings import StoreSettings

if TYPE_CHECKING:
    from santral.store.store import Store

log = structlog.get_logger(__name__)

DAY = 86400.0
ERASED_CALLER = "erased"
_CHUNK = 500

# Tables keyed by the record id that erasure clears, with their key column.
_RECORD_TABLES = (
    ("ivr_steps", "record_id"),
    ("ivr_variables", "record_id"),
    ("survey_answers", "record_id"),
    ("recordings", "record_id"),
    ("events", "record_key"),
    ("sessions", "call_id"),
)


@dataclass(frozen=True)
class PrivacyResult:
    """Rows touched per table, and the recording files deleted or not found."""

    counts: dict[str, int] = field(default_factory=dict)
    files_deleted: list[str] = field(default_factory=list)
    files_not_deleted: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "counts": self.counts,
            "files_deleted": self.files_deleted,
            "files_not_deleted": self.files_not_deleted,
        }


async def erase_caller(store: Store, caller: str) -> PrivacyResult:
    """Remove or anonymise every record about ``caller`` (exact number or address).

    Buffered events are written first so none escape. Interaction rows stay for the KPIs,
    with the caller replaced by ``erased``. Their IVR path and variables, survey answers,
    recordings (rows and files), logged events and session state are deleted. Offers and
    agent changes contain no caller data and stay.
    """
    if not caller.strip():
        raise ValueError("the caller to erase must not be empty")
    await store.flush()
    counts, paths = await store.run(lambda database: _erase_rows(database, caller))
    deleted, missing = await asyncio.to_thread(_delete_files, paths)
    log.info("caller_erased", records=counts.get("interactions", 0),
             files_deleted=len(deleted))
    return PrivacyResult(counts, deleted, missing)


def _erase_rows(database: Database, caller: str) -> tuple[dict[str, int], list[str]]:
    with database.transaction():
        rows = database.query(
            "SELECT id, call_id, interaction_id FROM interactions WHERE caller = ?", (caller,)
        )
        keys = sorted({str(value) for row in rows for value in row.values() if value})
        paths = [str(row["path"]) for row in _select_in(database, "SELECT path FROM recordings"
                                                   " WHERE record_id IN", keys)]
        counts = {table: _delete_in(database, table, column, keys)
                  for table, column in _RECORD_TABLES}
        counts["interactions"] = database.execute(
            "UPDATE interactions SET caller = ?, erased = 1, disposition = '' WHERE caller = ?",
            (ERASED_CALLER, caller),
        )
    return counts, paths


def _select_in(database: Database, sql: str, keys: Sequence[str]) -> list[dict[str, object]]:
    rows = []
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        rows.extend(database.query(f"{sql} ({', '.join('?' * len(chunk))})", chunk))
    return rows


def _delete_in(database: Database, table: str, column: str, keys: Sequence[str]) -> int:
    deleted = 0
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        placeholders = ", ".join("?" * len(chunk))
        deleted += database.execute(f"DELETE FROM {table} WHERE {column} IN ({placeholders})",
                                    chunk)
    return deleted


async def run_retention(store: Store, settings: StoreSettings, clock: Clock) -> PrivacyResult:
    """Delete what is older than its retention period; one pass (the engine repeats it).

    A period of 0 days keeps that record type for ever. Old interactions take their IVR
    path, variables, offers, survey answers, recordings and logged events with them.
    """
    now = clock.now()
    counts, paths = await store.run(
        lambda database: _expire_rows(database, settings, now)
    )
    deleted, missing = await asyncio.to_thread(_delete_files, paths)
    if any(counts.values()) or deleted:
        log.info("retention_applied", files_deleted=len(deleted),
                 **{f"{table}_deleted": count for table, count in counts.items()})
    return PrivacyResult(counts, deleted, missing)


async def retention_loop(store: Store, settings: StoreSettings, clock: Clock) -> None:
    """Run ``run_retention`` every ``settings.retention_interval`` seconds until cancelled."""
    while True:
        try:
            await run_retention(store, settings, clock)
        except Exception:
            log.exception("retention_failed")
        await asyncio.sleep(settings.retention_interval)


def _expire_rows(
    database: Database, settings: StoreSettings, now: float
) -> tuple[dict[str, int], list[str]]:
    retention = settings.retention
    counts: dict[str, int] = {}
    paths: list[str] = []
    with database.transaction():
        if retention.recordings:
            cutoff = now - retention.recordings * DAY
            paths += _recording_paths(database, "ts < ?", cutoff)
            counts["recordings"] = database.execute("DELETE FROM recordings WHERE ts < ?",
                                                    (cutoff,))
        if retention.ivr_variables:
            counts["ivr_variables"] = database.execute(
                "DELETE FROM ivr_variables WHERE ts < ?", (now - retention.ivr_variables * DAY,)
            )
        if retention.survey_answers:
            counts["survey_answers"] = _expire_surveys(database,
                                                       now - retention.survey_answers * DAY)
        if retention.interactions:
            paths += _recording_paths(
                database, "record_id IN (SELECT id FROM interactions WHERE arrived_at < ?)",
                now - retention.interactions * DAY,
            )
            counts.update(_expire_interactions(database, now - retention.interactions * DAY))
        if retention.sessions:
            counts["sessions"] = database.execute(
                "DELETE FROM sessions WHERE updated_at < ?", (now - retention.sessions * DAY,)
            )
    return counts, paths


def _recording_paths(database: Database, condition: str, cutoff: float) -> list[str]:
    rows = database.query(f"SELECT path FROM recordings WHERE {condition}", (cutoff,))
    return [str(row["path"]) for row in rows]


def _expire_surveys(database: Database, cutoff: float) -> int:
    database.execute(
        "UPDATE interactions SET survey_score = NULL"
        " WHERE id IN (SELECT record_id FROM survey_answers WHERE ts < ?)",
        (cutoff,),
    )
    return database.execute("DELETE FROM survey_answers WHERE ts < ?", (cutoff,))


def _expire_interactions(database: Database, cutoff: float) -> dict[str, int]:
    old = "SELECT id FROM interactions WHERE arrived_at < ?"
    old_interaction_ids = (
        "SELECT interaction_id FROM interactions WHERE arrived_at < ?"
        " AND interaction_id IS NOT NULL"
    )
    counts = {
        table: database.execute(f"DELETE FROM {table} WHERE record_id IN ({old})", (cutoff,))
        for table in ("ivr_steps", "ivr_variables", "survey_answers", "recordings")
    }
    counts["offers"] = database.execute(
        f"DELETE FROM offers WHERE interaction_id IN ({old_interaction_ids})", (cutoff,)
    )
    counts["events"] = database.execute("DELETE FROM events WHERE ts < ?", (cutoff,))
    counts["agent_changes"] = database.execute("DELETE FROM agent_changes WHERE ts < ?",
                                               (cutoff,))
    counts["interactions"] = database.execute("DELETE FROM interactions WHERE arrived_at < ?",
                                              (cutoff,))
    return counts


def _delete_files(paths: Sequence[str]) -> tuple[list[str], list[str]]:
    deleted: list[str] = []
    missing: list[str] = []
    for path in paths:
        try:
            os.remove(path)
        except FileNotFoundError:
            missing.append(path)
            continue
        except OSError as error:
            log.error("recording_delete_failed", path=path, error=str(error))
            missing.append(path)
            continue
        deleted.append(path)
    return deleted, missing
