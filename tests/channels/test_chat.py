"""Web chat over real WebSockets: customer widget protocol, agents, capacity."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from santral.engine import Engine
from tests.engine.conftest import next_event


def chat_url(engine: Engine) -> str:
    return f"http://127.0.0.1:{engine.http_port}/chat/ws"


async def receive_until(socket: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    """Return the next frame of ``kind``, skipping position updates and typing."""
    for _ in range(50):
        frame: dict[str, Any] = json.loads((await socket.receive(timeout=10)).data)
        if frame["type"] == kind:
            return frame
        skipped = ("queued", "typing", "agent_joined", "message", "transferred")
        assert frame["type"] in skipped, frame
    pytest.fail(f"no {kind} frame among 50")


async def test_chat_with_agent_and_transcript(engine: Engine) -> None:
    await engine.acd.set_status("alice", "available")
    offered = next_event(engine, "offer_created", agent_id="alice")
    async with aiohttp.ClientSession() as session, session.ws_connect(chat_url(engine)) as socket:
        await socket.send_json({"type": "start", "name": "Ayşe", "topic": "billing"})
        offer = await asyncio.wait_for(offered, 10)
        assert offer.channel == "chat"  # type: ignore[attr-defined]
        interaction_id = offer.interaction_id  # type: ignore[attr-defined]
        await engine.acd.accept("alice", offer.offer_id)  # type: ignore[attr-defined]
        joined = await receive_until(socket, "agent_joined")
        assert joined["agent"] == "Alice"

        received = next_event(engine, "interaction_message", direction="in")
        await socket.send_json({"type": "message", "text": "My bill is wrong."})
        await socket.send_json({"type": "typing", "typing": True})
        message = await asyncio.wait_for(received, 10)
        assert message.agent_id == "alice"  # type: ignore[attr-defined]
        await engine.acd.send_message("alice", interaction_id, "Let me check that for you.")
        reply = await receive_until(socket, "message")
        assert reply == {"type": "message", "from": "agent", "text": "Let me check that for you."}

        view = engine.acd.agent_view("alice")
        messages = view["interactions"][0]["attributes"]["messages"]
        assert [item["direction"] for item in messages] == ["in", "out"]

        ended = next_event(engine, "interaction_ended", interaction_id=interaction_id)
        await socket.send_json({"type": "leave"})
        event = await asyncio.wait_for(ended, 10)
        assert event.outcome == "answered"  # type: ignore[attr-defined]
    assert engine.acd.agent_view("alice")["state"] == "wrap_up"


async def test_transferred_chat_stays_open(engine: Engine) -> None:
    await engine.acd.set_status("alice", "available")
    offered = next_event(engine, "offer_created", agent_id="alice")
    async with aiohttp.ClientSession() as session, session.ws_connect(chat_url(engine)) as socket:
        await socket.send_json({"type": "start", "name": "Ayşe", "topic": "billing"})
        offer = await asyncio.wait_for(offered, 10)
        first_id = offer.interaction_id  # type: ignore[attr-defined]
        await engine.acd.accept("alice", offer.offer_id)  # type: ignore[attr-defined]
        await receive_until(socket, "agent_joined")

        await engine.acd.set_status("bob", "available")
        offered_to_bob = next_event(engine, "offer_created", agent_id="bob")
        await engine.acd.transfer("alice", first_id, "agent", "bob", consult=False)
        await receive_until(socket, "transferred")
        transferred = await asyncio.wait_for(offered_to_bob, 10)
        second_id = transferred.interaction_id  # type: ignore[attr-defined]
        await engine.acd.accept("bob", transferred.offer_id)  # type: ignore[attr-defined]
        joined = await receive_until(socket, "agent_joined")
        await engine.acd.send_message("bob", second_id, "Bob here.")
        reply = await receive_until(socket, "message")

        assert joined["agent"] == "Bob"
        assert reply == {"type": "message", "from": "agent", "text": "Bob here."}
        assert engine.acd.agent_view("alice")["state"] == "wrap_up"

        ended = next_event(engine, "interaction_ended", interaction_id=second_id)
        await socket.send_json({"type": "leave"})
        event = await asyncio.wait_for(ended, 10)

        assert event.outcome == "answered"  # type: ignore[attr-defined]


async def test_customer_leaving_queue_is_abandon(engine: Engine) -> None:
    ended = next_event(engine, "interaction_ended")
    async with aiohttp.ClientSession() as session, session.ws_connect(chat_url(engine)) as socket:
        await socket.send_json({"type": "start", "name": "Mehmet", "topic": "sales"})
        queued = await receive_until(socket, "queued")
        assert queued["position"] == 1
    event = await asyncio.wait_for(ended, 10)
    assert event.outcome == "abandoned_in_queue"  # type: ignore[attr-defined]


async def test_invalid_frames_get_errors(engine: Engine) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(chat_url(engine)) as socket:
        await socket.send_str("not json")
        assert (await receive_until(socket, "error"))["message"].startswith("invalid JSON")
        await socket.send_json({"type": "message", "text": "hello"})
        assert "start" in (await receive_until(socket, "error"))["message"]
        await socket.send_json({"type": "start", "name": "Ali", "topic": "astrology"})
        assert "unknown topic" in (await receive_until(socket, "error"))["message"]
    assert engine.acd.router.interactions() == []
