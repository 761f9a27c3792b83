"""Many chats at once: every chat answered once, no agent over its chat capacity."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from santral import events as ev
from santral.engine import Engine
from tests.channels.test_chat import chat_url, receive_until

AGENT_COUNT = 20
CHAT_COUNT = 200
CAPACITY = 3


@pytest.fixture
def engine_environ(tmp_path: Path) -> dict[str, str]:
    agents = {
        f"agent{number:02d}": {
            "skills": {"billing": 5},
            "queues": ["billing"],
            "capacity": {"voice": 1, "chat": CAPACITY, "email": 5},
            "auto_accept": True,
            "wrapup": 0,
        }
        for number in range(AGENT_COUNT)
    }
    return {
        "SANTRAL_HTTP__PORT": "0",
        "SANTRAL_STORE__URL": f"sqlite:///{tmp_path / 'santral.db'}",
        "SANTRAL_EMAIL__ENABLED": "false",
        "SANTRAL_ASTERISK__FASTAGI__PORT": "0",
        "SANTRAL_ACD__AGENTS": json.dumps(agents),
        "SANTRAL_CHAT__POSITION_INTERVAL": "0.5",
    }


async def test_200_chats_across_20_agents(engine: Engine) -> None:
    """Every chat is answered once, and no agent holds more than its chat capacity."""
    concurrent: Counter[str] = Counter()
    peak: Counter[str] = Counter()
    connected: Counter[str] = Counter()
    replies: set[asyncio.Task[None]] = set()

    def watch(event: ev.Event) -> None:
        if isinstance(event, ev.InteractionConnected):
            concurrent[event.agent_id] += 1
            connected[event.interaction_id] += 1
            peak[event.agent_id] = max(peak[event.agent_id], concurrent[event.agent_id])
        elif isinstance(event, ev.InteractionEnded) and event.agent_id:
            concurrent[event.agent_id] -= 1
        elif isinstance(event, ev.InteractionMessage) and event.direction == "in":
            reply = engine.acd.send_message(event.agent_id, event.interaction_id, "Hello!")
            task = asyncio.ensure_future(reply)
            replies.add(task)
            task.add_done_callback(replies.discard)

    engine.bus.subscribe(watch)
    for number in range(AGENT_COUNT):
        await engine.acd.set_status(f"agent{number:02d}", "available")

    async def customer(session: aiohttp.ClientSession, number: int) -> None:
        async with session.ws_connect(chat_url(engine)) as socket:
            await socket.send_json({"type": "start", "name": f"c{number}", "topic": "billing"})
            await receive_until(socket, "agent_joined")
            await socket.send_json({"type": "message", "text": "Hi"})
            assert (await receive_until(socket, "message"))["text"] == "Hello!"
            await socket.send_json({"type": "leave"})

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.wait_for(
            asyncio.gather(*(customer(session, number) for number in range(CHAT_COUNT))), 120
        )
    assert len(connected) == CHAT_COUNT
    assert set(connected.values()) == {1}
    assert max(peak.values()) <= CAPACITY
    assert sum(1 for value in peak.values() if value == CAPACITY) > 0
