"""The ``Store``: buffers bus events, writes them in batches off the event loop, runs queries.

The bus subscriber only appends to a list. A flush task hands the buffered events to the
worker thread every ``flush_interval`` seconds and on ``close``. Each batch is one
transaction, so a crash loses at most the events since the last flush and never leaves a
half-written batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import structlog

from santral.clock import Clock, SystemClock
from santral.events import Event, EventBus
from santral.store.database import Database, DatabaseError, connect
from santral.store.migrations import migrate
from santral.store.records import Projection
from santral.store.settings import StoreSettings
from santral.store.worker import StoreWorker

log = structlog.get_logger(__name__)

T = TypeVar("T")

MAX_BATCH_ATTEMPTS = 10
MAX_BUFFERED_EVENTS = 200_000

_SUMMARY_COLUMNS = (
    "id, call_id, interaction_id, channel, queue, agent_id, arrived_at, enqueued_at,"
    " answered_at, ended_at, outcome, disposition, survey_score"
)


class Store:
    """Durable records of calls, interactions and agents; see ``open_store``."""

    def __init__(
        self,
        settings: StoreSettings,
        worker: StoreWorker,
        database_name: str,
        clock: Clock,
        reader: StoreWorker | None = None,
    ) -> None:
        self.settings = settings
        self.database_name = database_name
        self.written = 0
        self.dropped = 0
        self._worker = worker
        self._reader = reader
        self._clock = clock
        self._projection = Projection(settings.sensitive_variables)
        self._buffer: list[Event] = []
        self._retry: list[Event] = []
        self._retry_attempts = 0
        self._flush_lock = asyncio.Lock()
        self._flusher: asyncio.Task[None] | None = None
        self._unsubscribers: list[Callable[[], None]] = []
        self._closed = False

    # Writing

    def attach(self, bus: EventBus) -> Callable[[], None]:
        """Subscribe to ``bus`` and return the function that unsubscribes again."""
        unsubscribe = bus.subscribe(self.record)
        self._unsubscribers.append(unsubscribe)
        return unsubscribe

    def record(self, event: Event) -> None:
        """Buffer ``event`` for the next flush; returns at once (a bus subscriber)."""
        if len(self._buffer) >= MAX_BUFFERED_EVENTS:
            self.dropped += 1
            if self.dropped % 1000 == 1:
                log.error("store_buffer_full", dropped=self.dropped, event_type=event.type)
            return
        self._buffer.append(event)

    @property
    def pending(self) -> int:
        """Events buffered and not yet written."""
        return len(self._buffer) + len(self._retry)

    def start(self) -> None:
        """Start the periodic flush task (``open_store`` does this)."""
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_loop(), name="store-flush")

    async def flush(self) -> int:
        """Write every buffered event and return how many were written.

        Raises nothing for a failed batch: it is logged and kept for the next flush (up to
        ``MAX_BATCH_ATTEMPTS`` tries). Cancelling the caller does not cut a batch in half.
        """
        async with self._flush_lock:
            batch, self._retry, self._buffer = self._retry + self._buffer, [], []
            written = 0
            size = self.settings.batch_size
            for start in range(0, len(batch), size):
                chunk = batch[start : start + size]
                try:
                    rejected = await self._write_chunk(chunk)
                except asyncio.CancelledError:
                    # The worker still writes this chunk; keep the rest for the next flush.
                    self._retry = batch[start + size :]
                    raise
                if rejected is None:
                    self._retry = chunk + batch[start + size :]
                    break
                written += len(chunk) - rejected
                self.written += len(chunk) - rejected
                self.dropped += rejected
            return written

    async def _write_chunk(self, chunk: list[Event]) -> int | None:
        """Write ``chunk``; return how many events were rejected, or None to retry it later."""
        try:
            rejected = await self._worker.call(
                lambda database: self._apply_batch(database, chunk)
            )
        except Exception as error:  # a database outage, or a bug met by every event
            self._retry_attempts += 1
            if self._retry_attempts < MAX_BATCH_ATTEMPTS:
                log.warning("store_write_failed", events=len(chunk), error=str(error),
                            attempt=self._retry_attempts)
                return None
            log.error("store_batch_dropped", events=len(chunk), error=str(error))
            rejected = len(chunk)
        self._retry_attempts = 0
        return rejected

    def _apply_batch(self, database: Database, chunk: list[Event]) -> int:
        try:
            with database.transaction():
                self._projection.apply(database, chunk)
        except Exception:
            if len(chunk) == 1:
                raise
            return self._apply_one_by_one(database, chunk)
        return 0

    def _apply_one_by_one(self, database: Database, chunk: list[Event]) -> int:
        failed = 0
        last_error: Exception | None = None
        for event in chunk:
            try:
                with database.transaction():
                    self._projection.apply(database, [event])
            except Exception as error:  # one bad event must not stop the others
                failed += 1
                last_error = error
                log.error("store_event_rejected", event_type=event.type, seq=event.seq,
                          error=str(error))
        if failed == len(chunk) and last_error is not None:
            raise last_error
        return failed

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.flush_interval)
            try:
                await self.flush()
            except Exception:
                log.exception("store_flush_failed")

    async def close(self) -> None:
        """Unsubscribe, write what is buffered, and close the database."""
        if self._closed:
            return
        self._closed = True
        for unsubscribe in self._unsubscribers:
            unsubscribe()
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self.flush()
        if self.pending:
            log.error("store_closed_with_unwritten_events", events=self.pending)
        await self._worker.stop()
        if self._reader is not None:
            await self._reader.stop()

    # Jobs, sessions and queries

    async def run(self, job: Callable[[Database], T]) -> T:
        """Run ``job(database)`` in the writer thread (retention, erasure, sessions)."""
        return await self._worker.call(job)

    async def read(self, job: Callable[[Database], T]) -> T:
        """Run the read-only ``job(database)`` on the reader connection.

        Reports and look-ups run there so that a long report never delays a session write
        or a batch. They see what is committed, so events still buffered are not seen.
        """
        if self._reader is None:
            return await self._worker.call(job)
        return await self._reader.call(job)

    async def ping(self) -> bool:
        """Return whether the database returns a row for ``SELECT 1``."""
        try:
            rows = await self.run(lambda database: database.query("SELECT 1 AS ok"))
        except DatabaseError:
            return False
        return bool(rows)

    async def save_session(self, call_id: str, state: dict[str, Any]) -> None:
        """Store the IVR session state of ``call_id``; it is committed when this returns."""
        text = json.dumps(state)
        now = self._clock.now()
        await self.run(lambda database: database.execute(
            "INSERT INTO sessions (call_id, state, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (call_id) DO UPDATE SET state = excluded.state,"
            " updated_at = excluded.updated_at",
            (call_id, text, now),
        ))

    async def load_session(self, call_id: str) -> dict[str, Any] | None:
        """Return the stored session state of ``call_id``, or None when there is none."""
        rows = await self.run(lambda database: database.query(
            "SELECT state FROM sessions WHERE call_id = ?", (call_id,)
        ))
        if not rows:
            return None
        state: dict[str, Any] = json.loads(rows[0]["state"])
        return state

    async def delete_session(self, call_id: str) -> None:
        """Remove the session state of ``call_id`` (no error when there is none)."""
        await self.run(lambda database: database.execute(
            "DELETE FROM sessions WHERE call_id = ?", (call_id,)
        ))

    async def previous_interactions(
        self, caller: str, days: float, *, exclude: str = "", limit: int = 20
    ) -> list[dict[str, Any]]:
        """Return the caller's interactions of the last ``days`` days, newest first.

        ``exclude`` leaves out the current call or interaction (by record, call or
        interaction id). Events still buffered are not seen until the next flush.
        """
        if not caller:
            return []
        since = self._clock.now() - days * 86400
        rows = await self.read(lambda database: database.query(
            f"SELECT {_SUMMARY_COLUMNS} FROM interactions WHERE caller = ? AND arrived_at >= ?"
            " ORDER BY arrived_at DESC LIMIT ?",
            (caller, since, limit + 1),
        ))
        kept = [row for row in rows if exclude not in _ids_of(row)] if exclude else rows
        return kept[:limit]

    async def interaction(self, record_id: str) -> dict[str, Any] | None:
        """Return one record with its IVR path, variables, offers and survey answers."""
        return await self.read(lambda database: _load_interaction(database, record_id))


def _ids_of(row: dict[str, Any]) -> set[str]:
    return {str(row["id"]), str(row["call_id"] or ""), str(row["interaction_id"] or "")}


def _load_interaction(database: Database, record_id: str) -> dict[str, Any] | None:
    rows = database.query(
        "SELECT * FROM interactions WHERE id = ? OR interaction_id = ? ORDER BY arrived_at",
        (record_id, record_id),
    )
    if not rows:
        return None
    record = rows[0]
    key = record["id"]
    record["ivr_path"] = [
        row["node"] for row in database.query(
            "SELECT node FROM ivr_steps WHERE record_id = ? ORDER BY ts, id", (key,)
        )
    ]
    record["ivr_variables"] = {
        row["name"]: json.loads(row["value"]) for row in database.query(
            "SELECT name, value FROM ivr_variables WHERE record_id = ? ORDER BY name", (key,)
        )
    }
    record["offer_list"] = database.query(
        "SELECT offer_id, agent_id, queue, created_at, ended_at, reason FROM offers"
        " WHERE interaction_id = ? ORDER BY created_at", (record["interaction_id"] or key,)
    )
    record["survey_answers"] = database.query(
        "SELECT question, score, ts FROM survey_answers WHERE record_id = ? ORDER BY ts", (key,)
    )
    return record


async def open_store(
    settings: StoreSettings, *, base_dir: Path | None = None, clock: Clock | None = None
) -> Store:
    """Connect to the configured database, apply pending migrations, start the flush task.

    A relative SQLite path is taken relative to ``base_dir`` (the configuration file's
    folder; the current folder when None). Raises ``DatabaseError`` when the database
    cannot be opened or migrated, and ``StoreConfigError`` for a bad URL setting.
    """
    url = settings.database_url(base_dir)

    def open_database() -> Database:
        database = connect(url)
        try:
            migrate(database)
        except BaseException:
            database.close()
            raise
        return database

    worker = StoreWorker(open_database)
    await worker.start()
    reader = None
    if not url.endswith(":memory:"):
        reader = StoreWorker(lambda: connect(url))
        try:
            await reader.start()
        except BaseException:
            await worker.stop()
            raise
    database_name = "sqlite" if url.startswith("sqlite") else "postgresql"
    store = Store(settings, worker, database_name, clock or SystemClock(), reader)
    store.start()
    log.info("store_opened", database=database_name)
    return store
