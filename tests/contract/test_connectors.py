"""The connector contract: one test body per behaviour, run against every connector.

Each case places a real call through one connector's wire protocol (see ``drivers.py``).
The engine runs the shipped config and sample dialplans on a Monday morning, when the IVR
is open. The checks read the engine's events and the stored record.
"""

from __future__ import annotations

import asyncio

import pytest

from santral.events import InteractionQueued, OfferCreated, OfferEnded
from tests.contract.conftest import Site, connectors, outcomes

MISS_REASONS = ("busy", "no_answer", "declined", "rejected")
# Seconds the engine gets to publish call_ended once the caller's side is over.
END_LIMIT = 5.0

async def settled(site: Site) -> None:
    """Flush the store and yield to the loop ten times before the exactly-once checks.

    A duplicate event that is already scheduled gets published first. One that comes
    later, after a timer or another request, is not waited for.
    """
    assert site.engine.store is not None
    await site.engine.store.flush()
    for _ in range(10):
        await asyncio.sleep(0)


async def queued_offer(site: Site) -> OfferCreated:
    """Make bob available, place a sales call, and return the offer bob receives."""
    await site.engine.acd.set_status("bob", "available")
    await site.driver.place_call()
    offer = await site.wait_for("offer_created", agent_id="bob")
    assert isinstance(offer, OfferCreated)
    assert offer.queue == "sales"
    return offer


async def talk_and_hang_up(site: Site, offer: OfferCreated) -> None:
    """Connect bob on ``offer``, then hang up from his console and let the caller finish."""
    await site.driver.answer_offer(site.engine, offer)
    await site.wait_for("interaction_connected", agent_id="bob")
    await site.engine.acd.hangup("bob", offer.interaction_id)
    await site.driver.finished()
    await site.wait_for("call_ended", within=END_LIMIT)
    await settled(site)


@pytest.mark.parametrize("site", connectors(), indirect=True)
async def test_keys_lead_to_the_sales_queue(site: Site) -> None:
    await site.driver.place_call(hang_up_in_queue=True)

    queued = await site.wait_for("interaction_queued")
    assert isinstance(queued, InteractionQueued)
    assert queued.queue == "sales"
    assert queued.channel == "voice"
    assert queued.call_id == site.call_id()
    assert outcomes(site.of("ivr_finished")) == ["queued"]
    assert [getattr(e, "connector", "") for e in site.of("call_started")] == [site.driver.name]
    await site.driver.hang_up()


@pytest.mark.parametrize("site", connectors(), indirect=True)
async def test_agent_answers_and_call_is_recorded(site: Site) -> None:
    offer = await queued_offer(site)

    await talk_and_hang_up(site, offer)

    assert outcomes(site.of("call_ended")) == ["answered"]
    assert outcomes(site.of("interaction_ended")) == ["answered"]
    assert site.driver.agent_rings() == 1
    if site.driver.survey_after_agent:
        assert [getattr(e, "score", None) for e in site.of("survey_answered")] == [5]
    record = await site.record()
    assert record["connector"] == site.driver.name
    assert record["outcome"] == "answered"
    assert record["agent_id"] == "bob"
    assert record["queue"] == "sales"


@pytest.mark.parametrize("site", connectors(), indirect=True)
async def test_caller_rates_call_after_agent(site: Site) -> None:
    offer = await queued_offer(site)
    await site.driver.answer_offer(site.engine, offer)
    await site.wait_for("interaction_connected", agent_id="bob")

    await site.driver.agent_leaves(site.engine, offer)
    await site.driver.finished()
    await site.wait_for("call_ended", within=END_LIMIT)
    await settled(site)

    assert [getattr(e, "score", None) for e in site.of("survey_answered")] == [5]
    assert outcomes(site.of("interaction_ended")) == ["answered"]
    assert outcomes(site.of("call_ended")) == ["answered"]
    record = await site.record()
    assert record["outcome"] == "answered"
    assert record["agent_id"] == "bob"
    assert record["survey_score"] == 5


@pytest.mark.parametrize("site", connectors(), indirect=True)
async def test_caller_hangs_up_in_queue(site: Site) -> None:
    await site.driver.place_call(hang_up_in_queue=True)
    await site.wait_for("interaction_queued")

    await site.driver.hang_up()
    await site.wait_for("call_ended", within=END_LIMIT)
    await settled(site)

    assert outcomes(site.of("interaction_ended")) == ["abandoned_in_queue"]
    assert outcomes(site.of("call_ended")) == ["abandoned_in_queue"]
    assert site.of("offer_created") == []
    record = await site.record()
    assert record["outcome"] == "abandoned_in_queue"


@pytest.mark.parametrize("site", connectors(), indirect=True)
async def test_missed_offer_goes_back_to_the_queue(site: Site) -> None:
    first = await queued_offer(site)

    await site.driver.miss_offer(site.engine, first)
    missed = await site.wait_for("offer_ended", offer_id=first.offer_id)
    assert isinstance(missed, OfferEnded)
    assert missed.reason in MISS_REASONS
    if site.engine.acd.agent_view("bob")["status"] != "available":
        await site.engine.acd.set_status("bob", "available")
    second = await site.wait_for("offer_created", count=2, agent_id="bob")
    assert isinstance(second, OfferCreated)
    assert second.interaction_id == first.interaction_id
    assert second.offer_id != first.offer_id
    assert site.events.index(missed) < site.events.index(second)

    await talk_and_hang_up(site, second)
    assert site.driver.agent_rings() == (2 if site.driver.miss_rings_agent else 1)
    assert outcomes(site.of("call_ended")) == ["answered"]
    assert len(site.of("interaction_queued")) == 1
