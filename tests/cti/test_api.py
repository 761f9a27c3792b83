"""The REST API: authentication on every route, roles, desk errors and the agent flow."""

from __future__ import annotations

import re

import pytest

from cti.openapi import openapi_document
from santral.testing.cti_client import CtiClient
from tests.cti.conftest import CtiServer

PUBLIC_PATHS = {"/api/login", "/api/openapi.json", "/api/events.schema.json"}


def protected_operations() -> list[tuple[str, str]]:
    operations: list[tuple[str, str]] = []
    for path, item in openapi_document()["paths"].items():
        if path in PUBLIC_PATHS:
            continue
        concrete = re.sub(
            r"\{(\w+)\}", lambda match: {"agent_id": "alice"}.get(match.group(1), "x1"), path
        )
        operations.extend((method.upper(), concrete) for method in item)
    return operations


@pytest.mark.parametrize(("method", "path"), protected_operations())
@pytest.mark.parametrize("token", ["", "wrong-token"])
async def test_every_route_rejects_bad_credentials(
    server: CtiServer, method: str, path: str, token: str
) -> None:
    async with CtiClient(server.url, token=token) as client:
        status, body = await client.request(method, path, {})

    assert status == 401
    assert body["error"]["code"] == "unauthorized"


async def test_login_wrong_password_is_401(server: CtiServer) -> None:
    async with CtiClient(server.url) as client:
        status, body = await client.request(
            "POST", "/api/login", {"user": "alice", "password": "nope"}
        )

    assert status == 401
    assert "wrong password" in body["error"]["message"]


async def test_login_returns_user(clients: dict[str, CtiClient]) -> None:
    me = await clients["alice"].get("/api/me")

    assert me["user"] == {"user_id": "alice", "name": "Alice", "role": "agent", "agent_id": "alice"}


async def test_logout_ends_session(clients: dict[str, CtiClient]) -> None:
    await clients["bob"].post("/api/logout")
    status, _ = await clients["bob"].request("GET", "/api/me")

    assert status == 401


async def test_agent_cannot_act_for_another(clients: dict[str, CtiClient]) -> None:
    alice = clients["alice"]
    status_code, body = await alice.request(
        "POST", "/api/agents/bob/status", {"status": "available"}
    )
    view_code, _ = await alice.request("GET", "/api/agents/bob")
    accept_code, _ = await alice.request("POST", "/api/agents/bob/offers/o1/accept")
    queues_code, _ = await alice.request("GET", "/api/queues")

    assert status_code == 403
    assert body["error"]["code"] == "forbidden"
    assert view_code == 403
    assert accept_code == 403
    assert queues_code == 403


async def test_supervisor_sets_any_status(server: CtiServer, clients: dict[str, CtiClient]) -> None:
    sam = clients["sam"]
    await sam.post("/api/agents/bob/status", {"status": "not_ready", "reason_code": "lunch"})
    agents = await sam.get("/api/agents")
    accept_code, _ = await sam.request("POST", "/api/agents/bob/offers/o1/accept")

    assert server.desk.agents_by_id["bob"].status == "not_ready"
    assert [agent["agent_id"] for agent in agents["agents"]] == ["alice", "bob"]
    assert accept_code == 403


async def test_invalid_body_is_400(clients: dict[str, CtiClient]) -> None:
    alice = clients["alice"]
    unknown_status, body = await alice.request(
        "POST", "/api/agents/alice/status", {"status": "sleeping"}
    )
    extra_field, _ = await alice.request(
        "POST", "/api/agents/alice/status", {"status": "available", "colour": "red"}
    )

    assert unknown_status == 400
    assert body["error"]["code"] == "invalid"
    assert "status" in body["error"]["message"]
    assert extra_field == 400


async def test_desk_errors_map_to_status(clients: dict[str, CtiClient]) -> None:
    alice = clients["alice"]
    no_offer, body = await alice.request("POST", "/api/agents/alice/offers/o9/accept")
    no_wrapup, _ = await alice.request(
        "POST", "/api/agents/alice/wrapup/end", {"disposition": "resolved"}
    )
    not_supported, _ = await alice.request(
        "POST", "/api/agents/alice/interactions/i1/messages", {"text": "hello"}
    )

    assert no_offer == 404
    assert body["error"]["code"] == "not_found"
    assert no_wrapup == 409
    assert not_supported == 501


async def test_agent_call_flow(server: CtiServer, clients: dict[str, CtiClient]) -> None:
    alice = clients["alice"]
    await alice.post("/api/agents/alice/status", {"status": "available"})
    offer_id = server.desk.offer("alice", {"caller": "+905551112233", "variables": {"pin": "1234"}})

    view = (await alice.get("/api/agents/alice"))["agent"]
    await alice.post(f"/api/agents/alice/offers/{offer_id}/accept")
    await alice.post("/api/agents/alice/interactions/i1/hold", {"on_hold": True})
    await alice.post(
        "/api/agents/alice/interactions/i1/transfer",
        {"target_kind": "queue", "target": "sales", "consult": True},
    )
    await alice.post("/api/agents/alice/interactions/i1/hangup")
    await alice.post("/api/agents/alice/wrapup/extend", {"seconds": 30})
    await alice.post("/api/agents/alice/wrapup/end", {"disposition": "resolved", "notes": "ok"})

    assert view["offer"]["pop"]["variables"] == {"pin": "****"}
    assert server.desk.actions == [("transfer", "i1", "queue", "sales", "True")]
    assert server.desk.agents_by_id["alice"].state == "idle"


async def test_codes_lists_reasons(clients: dict[str, CtiClient]) -> None:
    codes = await clients["bob"].get("/api/codes")

    assert codes["reason_codes"] == ["break", "lunch", "training"]
    assert "resolved" in codes["disposition_codes"]


@pytest.mark.parametrize("path", ["/cti/", "/cti/wallboard"])
async def test_pages_declare_icon(server: CtiServer, path: str) -> None:
    # Without an icon link, Chromium requests /favicon.ico, which the engine answers with 404.
    async with CtiClient(server.url) as client, client.session.get(server.url + path) as reply:
        page = await reply.text()

    assert reply.status == 200
    assert '<link rel="icon"' in page
