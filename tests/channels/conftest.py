"""The engine fixtures of tests/engine, shared with the written-channel tests."""

from tests.engine.conftest import crm, engine, engine_environ, event_log

__all__ = ["crm", "engine", "engine_environ", "event_log"]
