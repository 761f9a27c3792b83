"""Durable records of calls, interactions and agents, in SQLite or PostgreSQL.

``open_store(settings)`` returns a ``Store`` and ``Store.attach(bus)`` records every event.
``run_retention`` and ``erase_caller`` delete records by age and by caller.
"""

from __future__ import annotations

from santral.store.database import DatabaseError
from santral.store.privacy import PrivacyResult, erase_caller, retention_loop, run_retention
from santral.store.settings import RetentionSettings, StoreConfigError, StoreSettings
from santral.store.store import Store, open_store

__all__ = [
    "DatabaseError",
    "PrivacyResult",
    "RetentionSettings",
    "Store",
    "StoreConfigError",
    "StoreSettings",
    "erase_caller",
    "open_store",
    "retention_loop",
    "run_retention",
]
