"""A supervisor for background tasks: no orphan tasks, every failure observed and logged."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import structlog

log = structlog.get_logger(__name__)


class TaskSupervisor:
    """Keeps a reference to each background task, logs its failure, and cancels all on close.

    A task that raises is logged with its name and removed; the others keep running.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    def spawn(self, coroutine: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Start ``coroutine`` as a supervised task and return it."""
        if self._closed:
            coroutine.close()
            raise RuntimeError(f"task supervisor {self._name} is closed; cannot start {name}")
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error(
                "background_task_failed",
                supervisor=self._name,
                task=task.get_name(),
                error=repr(error),
                exc_info=error,
            )

    def __len__(self) -> int:
        return len(self._tasks)

    async def close(self) -> None:
        """Cancel every task still running and wait until all have finished."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
