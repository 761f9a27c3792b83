"""Durable records of calls, interactions and agents, in SQLite or PostgreSQL.

``open_store(settings)`` returns a ``Store``; ``Store.attach(bus)`` records every event.
"""

from __future__ import annotations

from santral.store.database import DatabaseError
from santral.store.settings import RetentionSettings, StoreConfigError, StoreSettings
from santral.store.store import Store, open_store

__all__ = [
    "DatabaseError",
    "RetentionSettings",
    "Store",
    "StoreConfigError",
    "StoreSettings",
    "open_store",
]
