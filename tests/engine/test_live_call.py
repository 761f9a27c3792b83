"""``santral call --live``: the virtual caller's WebSocket into a running engine."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from santral.engine import Engine
from santral.telephony.virtual import CallerOutput, KeyScript, parse_keys
from tests.engine.conftest import MONDAY_MORNING, next_event

ACCOUNT_KEYS = "1 1 12345678903# 1 5"


def live_url(engine: Engine) -> str:
    return f"http://127.0.0.1:{engine.http_port}/api/virtual/call"


async def test_closed_terminal_hangs_up_queued_caller(engine: Engine) -> None:
    await engine.acd.set_status("bob", "available")
    offered = next_event(engine, "offer_created", agent_id="bob")
    abandoned = next_event(engine, "interaction_ended", outcome="abandoned_in_queue")
    async with aiohttp.ClientSession() as session:
        socket = await session.ws_connect(live_url(engine))
        await socket.send_json({"called": "100", "keys": "1 3"})
        await asyncio.wait_for(offered, 10)
        await socket.close()
    await asyncio.wait_for(abandoned, 10)
    assert engine.acd.agent_view("bob")["state"] == "idle"


async def test_live_request_with_invalid_keys_is_refused(engine: Engine) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(live_url(engine)) as socket:
        await socket.send_json({"called": "100", "keys": "1 x"})
        reply: dict[str, Any] = json.loads((await socket.receive(timeout=10)).data)
    assert reply["kind"] == "error"
    assert "invalid key 'x'" in reply["text"]


@pytest.mark.parametrize(
    ("script", "tokens"),
    [("1 1 12345678903# 1", ["1", "1", "12345678903#", "1"]), ("- ! *", ["-", "!", "*"])],
)
def test_key_script_tokens(script: str, tokens: list[str]) -> None:
    assert parse_keys(script) == tokens


def test_key_script_rejects_letters() -> None:
    with pytest.raises(ValueError, match="invalid key 'abc'"):
        parse_keys("1 abc")


async def test_one_token_per_prompt_reaches_queue(engine: Engine, crm: str) -> None:
    assert engine.virtual is not None
    heard: list[CallerOutput] = []
    await engine.acd.set_status("alice", "available")
    offered = next_event(engine, "offer_created", agent_id="alice")
    call = asyncio.ensure_future(
        engine.virtual.place_call(
            "+905551112299",
            "100",
            KeyScript(keys=parse_keys(ACCOUNT_KEYS), key_gap=0.05, time_scale=0.0),
            heard.append,
            variables={"crm_url": crm},
        )
    )
    offer = await asyncio.wait_for(offered, 10)
    assert offer.queue == "billing"  # type: ignore[attr-defined]
    gathers = [item.text for item in heard if item.kind == "gather"]
    assert (
        gathers.count("pressed *********** (terminator)")
        + gathers.count("pressed *********** (max_digits)")
        == 1
    )
    prompts = " ".join(item.text for item in heard if item.kind == "prompt")
    assert "12345678903" not in prompts
    call.cancel()
    await asyncio.gather(call, return_exceptions=True)


async def test_call_ids_are_unique_across_engines(engine: Engine) -> None:
    assert engine.virtual is not None
    first = await engine.virtual.place_call(
        "+905551112200", "100", KeyScript(keys=["!"], time_scale=0.0), lambda _: None
    )
    second = await engine.virtual.place_call(
        "+905551112200", "100", KeyScript(keys=["!"], time_scale=0.0), lambda _: None
    )
    assert first != second
    assert first.startswith("virtual-")
    assert engine.clock.now() >= MONDAY_MORNING


@pytest.mark.parametrize(
    "request_body",
    ['["100"]', '{"keys": "1"}', '{"called": "100", "key_gap": "soon"}'],
)
async def test_malformed_live_request_gets_error(engine: Engine, request_body: str) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(live_url(engine)) as socket:
        await socket.send_str(request_body)
        reply: dict[str, Any] = json.loads((await socket.receive(timeout=10)).data)
    assert reply["kind"] == "error"
    assert reply["text"].startswith("invalid call request")
