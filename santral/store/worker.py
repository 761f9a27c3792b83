"""A worker thread that owns one database connection.

The store runs two: one for writes and one for reads. Jobs are plain functions of the
``Database``. A worker runs them one at a time in submission order, so on the writer a
flushed batch is always written before a later job reads the tables.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from santral.store.database import Database

T = TypeVar("T")

_STOP = object()


class StoreWorker:
    """Runs database jobs in one thread and hands their results to the event loop."""

    def __init__(self, open_database: Callable[[], Database]) -> None:
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._ready: Future[None] = Future()
        self._thread = threading.Thread(
            target=self._run, args=(open_database,), name="santral-store", daemon=True
        )

    async def start(self) -> None:
        """Start the thread and wait until the database is open; re-raise a connect error."""
        self._thread.start()
        await asyncio.wrap_future(self._ready)

    async def call(self, job: Callable[[Database], T]) -> T:
        """Run ``job`` in the worker thread and return its result.

        If the caller is cancelled, the job still runs to completion (a write is never cut
        in half) and its result is dropped.
        """
        future: Future[T] = Future()
        self._jobs.put((job, future))
        return await asyncio.shield(asyncio.wrap_future(future))

    def submit(self, job: Callable[[Database], T]) -> Future[T]:
        """Queue ``job`` without waiting; the returned future completes in the thread."""
        future: Future[T] = Future()
        self._jobs.put((job, future))
        return future

    async def stop(self) -> None:
        """Finish the queued jobs, close the database and end the thread."""
        if not self._thread.is_alive():
            return
        self._jobs.put(_STOP)
        await asyncio.to_thread(self._thread.join)

    def _run(self, open_database: Callable[[], Database]) -> None:
        try:
            database = open_database()
        except BaseException as error:
            self._ready.set_exception(error)
            return
        self._ready.set_result(None)
        try:
            self._serve(database)
        finally:
            database.close()

    def _serve(self, database: Database) -> None:
        while True:
            item = self._jobs.get()
            if item is _STOP:
                return
            job, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(job(database))
            except BaseException as error:
                future.set_exception(error)
