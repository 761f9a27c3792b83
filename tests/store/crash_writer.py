"""A child process for the crash test: publishes calls into a store until it is killed.

Usage: ``python -m tests.store.crash_writer URL MAX_CALLS``. Every 20 calls it prints
``published N TIME`` (N calls published so far, wall-clock time) and flushes stdout.
"""

from __future__ import annotations

import asyncio
import sys
import time

from santral import events as ev
from santral.store import StoreSettings, open_store


async def main(url: str, max_calls: int) -> None:
    store = await open_store(StoreSettings(url=url, flush_interval=0.2))
    bus = ev.EventBus()
    store.attach(bus)
    for number in range(max_calls):
        bus.publish(ev.CallStarted(call_id=f"c{number}", connector="virtual",
                                   caller=f"+90{number}", called="1"))
        if number % 20 == 19:
            print(f"published {number + 1} {time.time()}", flush=True)
            await asyncio.sleep(0.02)  # about 1,000 calls a second, below the write rate
    await store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
