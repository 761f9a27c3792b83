"""Live gauges of the metrics, fed from events in virtual time."""

from __future__ import annotations

from pathlib import Path

from santral import events as ev
from santral.metrics import Metrics
from santral.store import StoreSettings, open_store
from tests.store.scenarios import new_timeline


def _value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_calls_in_ivr_and_waiting() -> None:
    line = new_timeline()
    metrics = Metrics()
    metrics.attach(line.bus)
    line.publish(ev.CallStarted(call_id="c1", connector="virtual", caller="1", called="2"))
    line.publish(ev.CallStarted(call_id="c2", connector="virtual", caller="1", called="2"))
    line.publish(ev.IvrFinished(call_id="c1", outcome="queued"))
    line.publish(ev.InteractionQueued(interaction_id="i1", channel="voice", queue="q",
                                      call_id="c1"))

    assert _value(metrics, "santral_calls_in_ivr") == 1
    assert _value(metrics, "santral_queue_waiting", queue="q") == 1

    line.publish(ev.InteractionConnected(interaction_id="i1", agent_id="a"))
    line.publish(ev.CallEnded(call_id="c2", outcome="caller_hangup"))

    assert _value(metrics, "santral_calls_in_ivr") == 0
    assert _value(metrics, "santral_queue_waiting", queue="q") == 0


def test_agents_per_state() -> None:
    line = new_timeline()
    metrics = Metrics()
    metrics.attach(line.bus)
    line.publish(ev.AgentStatusChanged(agent_id="a", old="logged_out", new="available"))
    line.publish(ev.AgentStatusChanged(agent_id="b", old="logged_out", new="not_ready"))
    line.publish(ev.AgentStateChanged(agent_id="a", old="idle", new="busy"))

    assert _value(metrics, "santral_agents", state="busy") == 1
    assert _value(metrics, "santral_agents", state="not_ready") == 1
    assert _value(metrics, "santral_agents", state="idle") == 0

    line.publish(ev.AgentStateChanged(agent_id="a", old="busy", new="idle"))
    line.publish(ev.AgentStatusChanged(agent_id="b", old="not_ready", new="logged_out"))

    assert _value(metrics, "santral_agents", state="busy") == 0
    assert _value(metrics, "santral_agents", state="idle") == 1
    assert _value(metrics, "santral_agents", state="logged_out") == 1


async def test_store_counts_exported(tmp_path: Path) -> None:
    line = new_timeline()
    store = await open_store(StoreSettings(url=f"sqlite:///{tmp_path / 'm.db'}"))
    store.attach(line.bus)
    metrics = Metrics()
    metrics.watch_store(store)
    line.publish(ev.CallStarted(call_id="c1", connector="virtual", caller="1", called="2"))
    pending = _value(metrics, "santral_store_pending_events")
    await store.flush()
    written = _value(metrics, "santral_store_written_events")
    await store.close()

    assert pending == 1
    assert written == 1
    assert _value(metrics, "santral_store_dropped_events") == 0
