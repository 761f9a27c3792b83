"""Consult transfers over the REST API: routes, roles, errors and the event schema."""

from __future__ import annotations

import jsonschema
import pytest

from cti.app import load_events_schema
from cti.openapi import openapi_document
from santral.events import ConsultChanged
from santral.testing.cti_client import CtiClient
from tests.cti.conftest import CtiServer

INTERACTION = "/api/agents/{agent}/interactions/i1"


async def connected_call(server: CtiServer, client: CtiClient, agent: str = "alice") -> None:
    """Give ``agent`` a connected voice interaction ``i1``."""
    offer_id = server.desk.offer(agent, {"caller": "+905551112233"})
    await client.post(f"/api/agents/{agent}/offers/{offer_id}/accept")


async def test_consult_start_and_complete(
    server: CtiServer, clients: dict[str, CtiClient]
) -> None:
    alice = clients["alice"]
    await connected_call(server, alice)
    base = INTERACTION.format(agent="alice")

    await alice.post(base + "/consult", {"target_kind": "agent", "target": "bob"})
    await alice.post(base + "/consult/complete")

    assert server.desk.actions == [("consult", "i1", "agent", "bob"), ("completed", "i1")]


async def test_consult_cancel(server: CtiServer, clients: dict[str, CtiClient]) -> None:
    alice = clients["alice"]
    await connected_call(server, alice)
    base = INTERACTION.format(agent="alice")

    await alice.post(base + "/consult", {"target_kind": "number", "target": "+905550001122"})
    await alice.post(base + "/consult/cancel")

    assert server.desk.actions[-1] == ("cancelled", "i1")


async def test_consult_for_another_agent_forbidden(
    server: CtiServer, clients: dict[str, CtiClient]
) -> None:
    await connected_call(server, clients["bob"], "bob")
    base = INTERACTION.format(agent="bob")

    start, body = await clients["alice"].request(
        "POST", base + "/consult", {"target_kind": "queue", "target": "sales"}
    )
    cancel, _ = await clients["alice"].request("POST", base + "/consult/cancel")

    assert start == 403
    assert body["error"]["code"] == "forbidden"
    assert cancel == 403
    assert server.desk.actions == []


async def test_supervisor_consult_forbidden_as_transfer(
    server: CtiServer, clients: dict[str, CtiClient]
) -> None:
    await connected_call(server, clients["bob"], "bob")
    base = INTERACTION.format(agent="bob")

    consult, _ = await clients["sam"].request(
        "POST", base + "/consult", {"target_kind": "agent", "target": "alice"}
    )
    transfer, _ = await clients["sam"].request(
        "POST", base + "/transfer", {"target_kind": "agent", "target": "alice"}
    )

    assert consult == 403
    assert transfer == consult
    assert server.desk.actions == []


async def test_consult_errors_map_to_status(
    server: CtiServer, clients: dict[str, CtiClient]
) -> None:
    alice = clients["alice"]
    await connected_call(server, alice)
    base = INTERACTION.format(agent="alice")

    bad_kind, bad_body = await alice.request(
        "POST", base + "/consult", {"target_kind": "group", "target": "x"}
    )
    no_consult, conflict = await alice.request("POST", base + "/consult/complete")
    unknown, _ = await alice.request(
        "POST", "/api/agents/alice/interactions/i9/consult", {"target_kind": "agent", "target": "b"}
    )

    assert bad_kind == 400
    assert "target_kind" in bad_body["error"]["message"]
    assert no_consult == 409
    assert conflict["error"]["code"] == "invalid_state"
    assert unknown == 404


async def test_consult_event_reaches_schema() -> None:
    event = ConsultChanged(
        consult_id="c-1",
        interaction_id="i1",
        agent_id="alice",
        call_id="virtual-1",
        target_kind="agent",
        target="bob",
        state="connected",
        target_agent_id="bob",
        target_interaction_id="i2",
        seq=7,
        ts=1.5,
    )
    schema = load_events_schema()

    jsonschema.validate(event.to_dict(), schema)
    fields = set(event.to_dict())
    assert set(schema["$defs"]["consult_changed"]["required"]) == fields


@pytest.mark.parametrize("suffix", ["/consult", "/consult/complete", "/consult/cancel"])
def test_consult_routes_documented(suffix: str) -> None:
    paths = openapi_document()["paths"]

    assert "/api/agents/{agent_id}/interactions/{interaction_id}" + suffix in paths
