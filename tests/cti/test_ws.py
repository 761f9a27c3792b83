"""The WebSocket: hello and credentials, snapshot first, filtering, reconnect, backlog."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
from typing import Any

import aiohttp
import jsonschema
import pytest

from cti.app import load_events_schema
from cti.hub import text_frame
from santral.events import AgentStatusChanged, InteractionQueued
from santral.testing.cti_client import CtiClient, CtiEvents
from tests.cti.conftest import CtiServer, make_settings, start_server

VALIDATOR = jsonschema.Draft202012Validator(load_events_schema())


def assert_valid(messages: list[dict[str, Any]]) -> None:
    for message in messages:
        VALIDATOR.validate(message)


async def raw_hello(url: str, token: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.ws_connect(url + "/cti/ws") as ws:
        await ws.send_json({"type": "hello", "token": token})
        reply = await ws.receive_json(timeout=5)
        closed = await ws.receive(timeout=5)
        assert closed.type == aiohttp.WSMsgType.CLOSE
        assert closed.data == 4001
        return dict(reply)


@pytest.mark.parametrize("token", ["", "not-a-token"])
async def test_hello_without_valid_token_rejected(server: CtiServer, token: str) -> None:
    reply = await raw_hello(server.url, token)

    assert reply["type"] == "error"
    assert reply["code"] == "unauthorized"
    assert_valid([reply])


async def test_first_message_must_be_hello(server: CtiServer) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(server.url + "/cti/ws") as ws:
        await ws.send_json({"type": "ping"})
        reply = await ws.receive_json(timeout=5)

    assert reply["type"] == "error"
    assert "hello" in reply["message"]


async def test_bearer_header_authenticates(server: CtiServer, clients: dict[str, CtiClient]
                                           ) -> None:
    headers = {"Authorization": f"Bearer {clients['alice'].token}"}
    async with aiohttp.ClientSession() as session, session.ws_connect(
        server.url + "/cti/ws", headers=headers
    ) as ws:
        await ws.send_json({"type": "hello", "last_seq": 0})
        snapshot = await ws.receive_json(timeout=5)

    assert snapshot["type"] == "snapshot"
    assert snapshot["user"]["user_id"] == "alice"


async def test_agent_sees_only_own_events(server: CtiServer, clients: dict[str, CtiClient]
                                          ) -> None:
    alice = await clients["alice"].connect()
    await clients["bob"].post("/api/agents/bob/status", {"status": "available"})
    await clients["alice"].post("/api/agents/alice/status", {"status": "available"})

    event = await alice.wait_for("agent_status_changed")
    await alice.close()

    assert event["agent_id"] == "alice"
    assert [message["agent_id"] for message in alice.received] == ["alice"]


async def test_supervisor_sees_all_agents(server: CtiServer, clients: dict[str, CtiClient]
                                          ) -> None:
    sam = await clients["sam"].connect()
    await clients["bob"].post("/api/agents/bob/status", {"status": "available"})
    server.bus.publish(InteractionQueued(interaction_id="i7", channel="voice", queue="support"))

    status = await sam.wait_for("agent_status_changed")
    queued = await sam.wait_for("interaction_queued")
    await sam.close()

    assert status["agent_id"] == "bob"
    assert queued["interaction_id"] == "i7"
    assert [agent["agent_id"] for agent in sam.snapshot["agents"]] == ["alice", "bob"]
    assert sam.snapshot["queues"][0]["queue"] == "support"
    assert_valid([sam.snapshot, *sam.received])


async def test_offer_flow_messages(server: CtiServer, clients: dict[str, CtiClient]) -> None:
    alice_api = clients["alice"]
    alice = await alice_api.connect()
    await alice_api.post("/api/agents/alice/status", {"status": "available"})
    offer_id = server.desk.offer("alice", {
        "interaction_id": "i1", "channel": "voice", "caller": "+905551112233",
        "called": "4440000", "caller_name": "Ayşe", "language": "tr", "queue": "support",
        "waited": 12.5, "ivr_path": ["welcome", "menu"], "variables": {"card_number": "4111"},
        "crm": {"tier": "gold"},
    })

    offer = await alice.wait_for("offer_created")
    await alice_api.post(f"/api/agents/alice/offers/{offer_id}/accept")
    await alice.wait_for("interaction_connected")
    await alice_api.post("/api/agents/alice/interactions/i1/hangup")
    await alice.wait_for("wrapup_started")
    await alice_api.post("/api/agents/alice/wrapup/end", {"disposition": "resolved"})
    ended = await alice.wait_for("wrapup_ended")
    await alice.close()

    assert offer["pop"]["variables"] == {"card_number": "****"}
    assert offer["pop"]["caller_name"] == "Ayşe"
    assert ended["disposition"] == "resolved"
    seqs = [message["seq"] for message in alice.received]
    assert seqs == sorted(seqs)
    assert all(seq > alice.snapshot["seq"] for seq in seqs)
    assert_valid([alice.snapshot, *alice.received])


async def test_reconnect_gets_snapshot_then_newer(server: CtiServer,
                                                  clients: dict[str, CtiClient]) -> None:
    alice_api = clients["alice"]
    first = await alice_api.connect()
    await alice_api.post("/api/agents/alice/status", {"status": "available"})
    await first.wait_for("agent_status_changed")
    last_seq = first.last_seq
    await first.close()

    await alice_api.post("/api/agents/alice/status", {"status": "not_ready",
                                                      "reason_code": "break"})
    second = await alice_api.connect(last_seq=last_seq)
    await alice_api.post("/api/agents/alice/status", {"status": "available"})
    newer = await second.wait_for("agent_status_changed")
    await second.close()

    assert second.snapshot["agent"]["status"] == "not_ready"
    assert second.snapshot["agent"]["reason"] == "break"
    assert second.snapshot["restarted"] is False
    assert newer["old"] == "not_ready"
    assert newer["seq"] > second.snapshot["seq"] > last_seq


async def test_reconnect_after_restart_flagged(server: CtiServer,
                                               clients: dict[str, CtiClient]) -> None:
    events = await clients["alice"].connect(last_seq=10_000)
    await events.close()

    assert events.snapshot["restarted"] is True


async def test_ping_gets_pong(clients: dict[str, CtiClient]) -> None:
    events = await clients["bob"].connect()
    await events.ws.send_json({"type": "ping"})
    pong = await events.wait_for("pong")
    await events.ws.send_json({"type": "accept"})
    error = await events.wait_for("error")
    await events.close()

    assert pong["seq"] == events.snapshot["seq"]
    assert error["code"] == "invalid"


async def open_stalled_socket(url: str, token: str) -> socket.socket:
    """Connect, send hello, then never read: a client whose receive window fills up."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, (host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    request = (f"GET /cti/ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n")
    await loop.sock_sendall(sock, request.encode())
    await loop.sock_sendall(sock, masked_text_frame(json.dumps({"type": "hello",
                                                                "token": token})))
    return sock


def masked_text_frame(text: str) -> bytes:
    payload = text.encode()
    assert len(payload) < 126
    mask = os.urandom(4)
    masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + masked


async def test_stalled_reader_dropped_others_served() -> None:
    server = await start_server(make_settings(max_backlog=8))
    try:
        sam = CtiClient(server.url)
        await sam.login("sam", "sam-pw")
        stalled = await open_stalled_socket(server.url, sam.token)
        reader = await sam.connect()
        await wait_clients(server, 2)

        draining = asyncio.create_task(drain(reader, 300))
        big_reason = "x" * 60_000
        for index in range(300):
            server.bus.publish(AgentStatusChanged(agent_id="bob", old="a", new="b",
                                                  reason=f"{index}{big_reason}"))
            await asyncio.sleep(0.002)
        received = await draining
        await wait_clients(server, 1)

        assert received == 300
        assert [client.principal.user_id for client in server.hub.clients] == ["sam"]
        await reader.close()
        await sam.close()
        stalled.close()
    finally:
        await server.runner.cleanup()


async def wait_clients(server: CtiServer, count: int) -> None:
    for _ in range(500):
        if len(server.hub.clients) == count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"expected {count} clients, have {len(server.hub.clients)}")


async def drain(events: CtiEvents, count: int) -> int:
    received = 0
    for _ in range(count):
        message = await events.receive(within=10)
        if message["type"] == "agent_status_changed":
            received += 1
    return received


async def test_shutdown_closes_websockets() -> None:
    server = await start_server(make_settings())
    client = CtiClient(server.url)
    await client.login("alice", "alice-pw")
    events = await client.connect()

    await server.runner.cleanup()
    frame = await events.ws.receive(timeout=5)
    await client.close()

    assert frame.type == aiohttp.WSMsgType.CLOSE
    assert frame.data == aiohttp.WSCloseCode.GOING_AWAY


async def test_client_closing_before_hello(server: CtiServer) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(server.url + "/cti/ws")
        await ws.close()
    await wait_clients(server, 0)

    async with CtiClient(server.url) as client:
        await client.login("bob", "bob-pw")
        events = await client.connect()
        await events.close()

    assert events.snapshot["user"]["user_id"] == "bob"


@pytest.mark.parametrize("size", [0, 100, 125, 126, 65_535, 65_536, 200_000])
async def test_frame_lengths_decode(server: CtiServer, clients: dict[str, CtiClient],
                                    size: int) -> None:
    events = await clients["sam"].connect()
    reason = "x" * size
    server.bus.publish(AgentStatusChanged(agent_id="bob", old="a", new="b", reason=reason))

    message = await events.wait_for("agent_status_changed")
    await events.close()

    assert message["reason"] == reason


async def test_queue_stats_reach_supervisors() -> None:
    server = await start_server(make_settings(queue_stats_interval=0.05))
    try:
        async with CtiClient(server.url) as sam:
            await sam.login("sam", "sam-pw")
            events = await sam.connect()
            server.desk.waiting["support"] = 3
            stats = await events.wait_for(
                "queue_stats_updated", lambda message: message["queues"][0]["waiting"] == 3
            )
            await events.close()
    finally:
        await server.runner.cleanup()

    assert stats["queues"][0]["queue"] == "support"
    assert_valid([stats])


@pytest.mark.parametrize(("size", "header"), [
    (0, 2), (125, 2), (126, 4), (65_535, 4), (65_536, 10), (200_000, 10),
])
def test_text_frame_header_lengths(size: int, header: int) -> None:
    frame = text_frame(b"x" * size)

    assert frame[0] == 0x81
    assert len(frame) == header + size
    if header == 2:
        assert frame[1] == size
    elif header == 4:
        assert frame[1] == 126
        assert int.from_bytes(frame[2:4], "big") == size
    else:
        assert frame[1] == 127
        assert int.from_bytes(frame[2:10], "big") == size


async def test_logout_closes_session_sockets(server: CtiServer,
                                             clients: dict[str, CtiClient]) -> None:
    alice_events = await clients["alice"].connect()
    bob_events = await clients["bob"].connect()

    await clients["alice"].post("/api/logout")
    frame = await alice_events.ws.receive(timeout=5)
    await clients["bob"].post("/api/agents/bob/status", {"status": "available"})
    still_open = await bob_events.wait_for("agent_status_changed")
    await bob_events.close()

    assert frame.type == aiohttp.WSMsgType.CLOSE
    assert frame.data == 4001
    assert still_open["agent_id"] == "bob"


async def test_many_clients_get_events_in_order() -> None:
    server = await start_server(make_settings())
    try:
        sam = CtiClient(server.url)
        await sam.login("sam", "sam-pw")
        readers = [await sam.connect() for _ in range(70)]
        await wait_clients(server, len(readers))

        for index in range(20):
            server.bus.publish(AgentStatusChanged(agent_id="bob", old="a", new="b",
                                                  reason=str(index)))
        reasons = [await status_reasons(reader, 20) for reader in readers]

        assert all(received == [str(index) for index in range(20)] for received in reasons)
        for reader in readers:
            await reader.close()
        await sam.close()
    finally:
        await server.runner.cleanup()


async def status_reasons(events: CtiEvents, count: int) -> list[str]:
    reasons = []
    while len(reasons) < count:
        message = await events.receive(within=10)
        if message["type"] == "agent_status_changed":
            reasons.append(message["reason"])
    return reasons
