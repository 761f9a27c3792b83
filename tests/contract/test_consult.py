"""The consult transfer contract, run against every connector that implements it.

Bob answers a sales call and consults a number the driver's peer answers, while the
caller holds. A connector whose control lacks the ``ConsultControl`` operations is skipped.
One whose driver lacks the ``ConsultDriver`` hooks (see ``drivers.py``) fails, naming them.
"""

from __future__ import annotations

import pytest

from santral.events import ConsultChanged, InteractionHeld, OfferCreated
from tests.contract.conftest import Site, connectors, outcomes
from tests.contract.drivers import CONSULT_HOOKS, ConsultDriver
from tests.contract.test_connectors import END_LIMIT, queued_offer, settled

CONSULT_OPERATIONS = ("consult", "complete_consult", "cancel_consult")


async def consulting(site: Site) -> tuple[OfferCreated, ConsultDriver]:
    """Connect bob to a sales call and have him consult the driver's number."""
    driver = consult_driver(site)
    offer = await queued_offer(site)
    await site.driver.answer_offer(site.engine, offer)
    await site.wait_for("interaction_connected", agent_id="bob")

    await site.engine.acd.consult("bob", offer.interaction_id, "number", driver.consult_number)
    await site.wait_for("consult_changed", state="connected")
    return offer, driver


def consult_driver(site: Site) -> ConsultDriver:
    """Return the driver as a ``ConsultDriver``; skip a connector that cannot consult."""
    name = site.driver.name
    control = site.engine.connectors.get(name) or getattr(site.driver, "connector", None)
    if not all(callable(getattr(control, name, None)) for name in CONSULT_OPERATIONS):
        pytest.skip(f"the {name} connector does not implement ConsultControl")
    missing = [name for name in CONSULT_HOOKS if not hasattr(site.driver, name)]
    if missing:
        pytest.fail(
            f"the {name} connector implements ConsultControl, but its driver "
            f"lacks the ConsultDriver hooks {missing}; add them in tests/contract/drivers.py"
        )
    return site.driver  # type: ignore[return-value]


def consult_states(site: Site) -> list[str]:
    return [event.state for event in site.events if isinstance(event, ConsultChanged)]


def holds(site: Site, interaction_id: str) -> list[bool]:
    return [
        event.on_hold
        for event in site.events
        if isinstance(event, InteractionHeld) and event.interaction_id == interaction_id
    ]


async def bob_hangs_up(site: Site, offer: OfferCreated) -> None:
    """End the call from bob's console and let the caller's side finish."""
    await site.engine.acd.hangup("bob", offer.interaction_id)
    await site.driver.finished()
    await site.wait_for("call_ended", within=END_LIMIT)
    await settled(site)


@pytest.mark.parametrize("site", connectors(), indirect=True)
async def test_consult_then_complete(site: Site) -> None:
    offer, _ = await consulting(site)

    await site.engine.acd.complete_consult("bob", offer.interaction_id)
    await site.wait_for("consult_changed", state="completed")
    assert site.engine.acd.agent_view("bob")["state"] == "wrap_up"
    await site.driver.hang_up()
    await site.wait_for("call_ended", within=END_LIMIT)
    await settled(site)

    assert consult_states(site) == ["requested", "ringing", "connected", "completed"]
    assert holds(site, offer.interaction_id) == [True, False]
    ended = outcomes(site.of("interaction_ended", interaction_id=offer.interaction_id))
    assert ended[-1] == "transferred"
    assert outcomes(site.of("call_ended")) == ["answered"]
    record = await site.record()
    assert record["outcome"] == "transferred"
    assert record["agent_id"] == "bob"


@pytest.mark.parametrize("site", connectors(), indirect=True)
async def test_consult_then_cancel(site: Site) -> None:
    offer, _ = await consulting(site)

    await site.engine.acd.cancel_consult("bob", offer.interaction_id)
    await site.wait_for("consult_changed", state="cancelled")
    assert site.engine.acd.agent_view("bob")["state"] == "busy"
    await bob_hangs_up(site, offer)

    assert consult_states(site) == ["requested", "ringing", "connected", "cancelled"]
    assert holds(site, offer.interaction_id) == [True, False]
    assert outcomes(site.of("interaction_ended")) == ["answered"]
    assert outcomes(site.of("call_ended")) == ["answered"]


@pytest.mark.parametrize("site", connectors(), indirect=True)
async def test_consulted_party_hangs_up(site: Site) -> None:
    offer, driver = await consulting(site)

    await driver.consulted_hangs_up(site.engine, site.call_id())
    await site.wait_for("consult_changed", state="target_left")
    assert site.engine.acd.agent_view("bob")["state"] == "busy"
    await bob_hangs_up(site, offer)

    assert consult_states(site) == ["requested", "ringing", "connected", "target_left"]
    assert holds(site, offer.interaction_id) == [True, False]
    assert outcomes(site.of("call_ended")) == ["answered"]


@pytest.mark.parametrize("site", connectors(), indirect=True)
async def test_caller_hangs_up_during_consult(site: Site) -> None:
    offer, _ = await consulting(site)

    await site.driver.hang_up()
    await site.wait_for("call_ended", within=END_LIMIT)
    await site.wait_for("consult_changed", state="ended")
    await settled(site)

    assert consult_states(site) == ["requested", "ringing", "connected", "ended"]
    assert outcomes(site.of("interaction_ended", interaction_id=offer.interaction_id)) == [
        "answered"
    ]
    assert outcomes(site.of("call_ended")) == ["answered"]
    assert site.engine.acd.agent_view("bob")["state"] == "wrap_up"
    assert site.engine.acd.agent_view("bob")["interactions"] == []
