"""A whole call through the engine with the virtual caller: IVR, queue, agent, survey, record."""

from __future__ import annotations

import asyncio

from santral.engine import Engine
from santral.events import EndpointStateChanged, OfferCreated
from santral.telephony.base import AgentLegResult
from santral.telephony.virtual import CallerOutput, KeyScript
from tests.engine.conftest import EventLog, next_event

# English, billing, a Luhn-valid account number, #, confirm with 1; then 5 in the survey.
BILLING_KEYS = "1 1 1 2 3 4 5 6 7 8 9 0 3 # 1 5"


async def test_call_reaches_agent_and_is_recorded(
    engine: Engine, event_log: EventLog, crm: str
) -> None:
    assert engine.virtual is not None
    heard: list[CallerOutput] = []
    await engine.acd.set_status("alice", "available")

    offered = next_event(engine, "offer_created", agent_id="alice")
    call = asyncio.ensure_future(
        engine.virtual.place_call(
            "+905551112233",
            "100",
            KeyScript(keys=BILLING_KEYS.split(), key_gap=0.05, time_scale=0.0),
            heard.append,
            variables={"crm_url": crm},
        )
    )
    offer = await asyncio.wait_for(offered, 10)
    assert isinstance(offer, OfferCreated)
    assert offer.queue == "billing"
    assert offer.pop["caller_name"] == "Ayşe Yılmaz"
    assert offer.pop["variables"]["account"] != "12345678903"

    connected = next_event(engine, "interaction_connected")
    await engine.acd.accept("alice", offer.offer_id)
    await asyncio.wait_for(connected, 10)
    assert engine.acd.agent_view("alice")["state"] == "busy"

    wrapup = next_event(engine, "wrapup_started", agent_id="alice")
    await engine.acd.hangup("alice", offer.interaction_id)
    await asyncio.wait_for(wrapup, 10)
    call_id = await asyncio.wait_for(call, 10)

    await engine.acd.end_wrapup("alice", "resolved", "paid by card")
    assert engine.acd.agent_view("alice")["state"] == "idle"

    kinds = [item.kind for item in heard]
    assert "queued" in kinds
    assert "connected" in kinds
    assert kinds[-1] == "ended"
    survey = event_log.of("survey_answered")
    assert [getattr(event, "score", None) for event in survey] == [5]
    ended = event_log.of("call_ended")
    assert [getattr(event, "outcome", None) for event in ended] == ["answered"]

    assert engine.store is not None
    await engine.store.flush()
    record = await engine.store.interaction(call_id)
    assert record is not None
    assert record["outcome"] == "answered"
    assert record["agent_id"] == "alice"
    assert record["queue"] == "billing"
    assert "12345678903" not in repr(record)


async def test_caller_hangs_up_in_queue_is_abandon(engine: Engine, event_log: EventLog) -> None:
    assert engine.virtual is not None
    call_id = await engine.virtual.place_call(
        "+905551112234",
        "100",
        KeyScript(keys=["1", "3"], key_gap=0.05, time_scale=0.0, hang_up_in_queue=0.2),
        lambda output: None,
    )
    ended = event_log.of("call_ended")
    assert [getattr(event, "outcome", None) for event in ended] == ["abandoned_in_queue"]
    interactions = event_log.of("interaction_ended")
    assert [getattr(event, "outcome", None) for event in interactions] == ["abandoned_in_queue"]
    assert engine.store is not None
    await engine.store.flush()
    record = await engine.store.interaction(call_id)
    assert record is not None
    assert record["outcome"] == "abandoned_in_queue"


async def test_unavailable_phone_pauses_agent(engine: Engine) -> None:
    await engine.acd.set_status("alice", "available")
    offline = EndpointStateChanged(
        connector="asterisk",
        endpoint="PJSIP/alice",
        state="UNAVAILABLE",
        available=False,
        agent_id="alice",
    )
    engine.bus.publish(offline)
    view = engine.acd.agent_view("alice")
    assert view["status"] == "not_ready"
    assert view["reason"] == "phone_unavailable"

    online = EndpointStateChanged(
        connector="asterisk",
        endpoint="PJSIP/alice",
        state="NOT_INUSE",
        available=True,
        agent_id="alice",
    )
    engine.bus.publish(online)
    assert engine.acd.agent_view("alice")["status"] == "available"


async def test_agent_choice_survives_phone_return(engine: Engine) -> None:
    await engine.acd.set_status("alice", "not_ready", "lunch")
    for available in (False, True):
        engine.bus.publish(
            EndpointStateChanged(
                connector="asterisk",
                endpoint="PJSIP/alice",
                state="x",
                available=available,
                agent_id="alice",
            )
        )
    view = engine.acd.agent_view("alice")
    assert view["status"] == "not_ready"
    assert view["reason"] == "lunch"


async def test_metrics_and_readiness_are_served(engine: Engine) -> None:
    import aiohttp

    base = f"http://127.0.0.1:{engine.http_port}"
    await engine.acd.set_status("alice", "available")
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/metrics") as response:
            assert response.status == 200
            text = await response.text()
        async with session.get(f"{base}/readyz") as response:
            assert response.status == 200
        async with session.get(f"{base}/api/reports/queue") as response:
            assert response.status in (401, 403)
    assert "santral_store_pending_events" in text
    assert 'santral_agents{state="logged_out"} 1.0' in text
    assert 'santral_agents{state="idle"} 1.0' in text


async def login(session: object, base: str, user: str, password: str) -> str:
    import aiohttp

    assert isinstance(session, aiohttp.ClientSession)
    async with session.post(
        f"{base}/api/login", json={"user": user, "password": password}
    ) as reply:
        assert reply.status == 200
        token: str = (await reply.json())["token"]
        return token


async def test_reports_need_a_supervisor(engine: Engine) -> None:
    import aiohttp

    base = f"http://127.0.0.1:{engine.http_port}"
    query = "from=2026-12-07T00:00:00%2B03:00&to=2026-12-08T00:00:00%2B03:00"
    async with aiohttp.ClientSession() as session:
        supervisor = await login(session, base, "sam", "sam-demo")
        agent = await login(session, base, "alice", "alice-demo")
        headers = {"Authorization": f"Bearer {supervisor}"}
        async with session.get(f"{base}/api/reports/queue?{query}", headers=headers) as reply:
            assert reply.status == 200
            assert "rows" in await reply.json() or reply.status == 200
        headers = {"Authorization": f"Bearer {agent}"}
        async with session.get(f"{base}/api/reports/queue?{query}", headers=headers) as reply:
            assert reply.status == 403
        async with session.post(
            f"{base}/api/admin/erase",
            json={"caller": "+905551112233"},
            headers={"Authorization": f"Bearer {supervisor}"},
        ) as reply:
            assert reply.status == 403


async def test_busy_agent_leg_goes_to_next_agent(engine: Engine) -> None:
    assert engine.virtual is not None
    engine.virtual.agent_leg_results["bob"] = [AgentLegResult.BUSY]
    await engine.acd.set_status("bob", "available")
    offered = next_event(engine, "offer_created", agent_id="bob")
    missed = next_event(engine, "offer_ended", agent_id="bob")
    call = asyncio.ensure_future(
        engine.virtual.place_call(
            "+905551112277", "100", KeyScript(keys=["1", "3"], time_scale=0.0), lambda _: None
        )
    )
    offer = await asyncio.wait_for(offered, 30)
    await engine.acd.accept("bob", offer.offer_id)  # type: ignore[attr-defined]
    ended = await asyncio.wait_for(missed, 30)
    assert ended.reason == "busy"  # type: ignore[attr-defined]
    assert engine.acd.router.interaction(offer.interaction_id).status == "waiting"  # type: ignore[attr-defined]
    call.cancel()
    await asyncio.gather(call, return_exceptions=True)


async def test_api_routing_errors_are_json(engine: Engine) -> None:
    import aiohttp

    base = f"http://127.0.0.1:{engine.http_port}"
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/api/login") as reply:
            assert reply.status == 405
            assert (await reply.json())["error"]["code"] == "invalid"
        async with session.get(f"{base}/api/no-such-thing") as reply:
            assert reply.status == 404
            assert (await reply.json())["error"]["code"] == "not_found"
        async with session.get(f"{base}/no-such-page") as reply:
            assert reply.status == 404
