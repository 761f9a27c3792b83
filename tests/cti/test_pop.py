"""Screen pops: masking, CRM links, the signed webhook with retries, previous contacts."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from cti.pop import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookSender,
    build_pop,
    fill_template,
    mask_variables,
    sign_body,
)
from cti.settings import CrmPopConfig
from santral.clock import VirtualClock
from santral.testing.cti_client import CtiClient
from tests.cti.conftest import PASSWORDS, make_settings, start_server

SECRET = "webhook-secret-for-tests"


def test_mask_variables_by_name() -> None:
    masked = mask_variables({"PIN": "1234", "card_number": "4111", "account": "77"},
                            ["pin", "card"])

    assert masked == {"PIN": "****", "card_number": "****", "account": "77"}


def test_fill_template_encodes_values() -> None:
    fields = {"caller": "+90 555", "variables": {"account": "a/b&c"}, "crm": {"ids": [1]}}
    url = fill_template(
        "https://crm.example/x?phone={caller}&acct={variables.account}&m={missing}&l={crm.ids}",
        fields,
    )

    assert url == "https://crm.example/x?phone=%2B90%20555&acct=a%2Fb%26c&m=&l="


def test_build_pop_adds_crm_url() -> None:
    settings = make_settings(crm_pop={"support": {"url_template": "https://crm/?p={caller}"}})
    pop = build_pop({"caller": "100", "variables": {"pin": "9"}}, "support", settings)
    other = build_pop({"caller": "100"}, "sales", settings)

    assert pop == {"caller": "100", "variables": {"pin": "****"}, "crm_url": "https://crm/?p=100"}
    assert "crm_url" not in other


def test_signature_is_hmac_sha256() -> None:
    body = b'{"a":1}'
    expected = hmac.new(b"k", b"1700000000." + body, hashlib.sha256).hexdigest()

    assert sign_body(b"k", 1700000000, body) == f"sha256={expected}"


class CrmPeer:
    """A local CRM webhook endpoint that fails a set number of times before accepting."""

    def __init__(self, failures: int, status: int = 503) -> None:
        self.failures = failures
        self.status = status
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.done = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.read()))
        if len(self.requests) <= self.failures:
            return web.Response(status=self.status)
        self.done.set()
        return web.Response(status=204)


@pytest.fixture
async def crm_peer() -> AsyncIterator[tuple[CrmPeer, str]]:
    peer = CrmPeer(failures=2)
    app = web.Application()
    app.router.add_post("/hook", peer.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield peer, f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    await runner.cleanup()


async def test_webhook_retries_then_delivers(crm_peer: tuple[CrmPeer, str]) -> None:
    peer, url = crm_peer
    settings = make_settings(webhook_backoff=0.01, webhook_attempts=5)
    sender = WebhookSender(settings, clock=VirtualClock(1700000000.0),
                           environ={"CRM_SECRET": SECRET})
    crm = CrmPopConfig(webhook_url=url, webhook_secret_env="CRM_SECRET")

    sender.send(crm, {"offer_id": "o1", "pop": {"caller": "100"}}, offer_id="o1")
    pending_after_send = sender.pending
    await asyncio.wait_for(peer.done.wait(), 5)
    await sender.close()

    assert pending_after_send == 1
    assert len(peer.requests) == 3
    deliveries = {headers[DELIVERY_HEADER] for headers, _ in peer.requests}
    assert len(deliveries) == 1
    headers, body = peer.requests[-1]
    assert headers[TIMESTAMP_HEADER] == "1700000000"
    assert headers[SIGNATURE_HEADER] == sign_body(SECRET.encode(), 1700000000, body)
    assert json.loads(body) == {"offer_id": "o1", "pop": {"caller": "100"}}


async def test_webhook_gives_up_after_attempts(crm_peer: tuple[CrmPeer, str]) -> None:
    peer, url = crm_peer
    peer.failures = 100
    sender = WebhookSender(make_settings(webhook_backoff=0.0, webhook_attempts=3),
                           environ={"CRM_SECRET": SECRET})
    sender.send(CrmPopConfig(webhook_url=url, webhook_secret_env="CRM_SECRET"), {},
                offer_id="o2")
    for _ in range(500):
        if sender.pending == 0:
            break
        await asyncio.sleep(0.01)
    await sender.close()

    assert len(peer.requests) == 3


async def test_webhook_client_error_not_retried(crm_peer: tuple[CrmPeer, str]) -> None:
    peer, url = crm_peer
    peer.status = 400
    sender = WebhookSender(make_settings(webhook_backoff=0.0), environ={"CRM_SECRET": SECRET})
    sender.send(CrmPopConfig(webhook_url=url, webhook_secret_env="CRM_SECRET"), {},
                offer_id="o3")
    for _ in range(500):
        if sender.pending == 0:
            break
        await asyncio.sleep(0.01)
    await sender.close()

    assert len(peer.requests) == 1


async def test_webhook_without_secret_not_sent() -> None:
    sender = WebhookSender(make_settings(), environ={})
    sender.send(CrmPopConfig(webhook_url="http://127.0.0.1:9/", webhook_secret_env="NOPE"), {},
                offer_id="o4")

    assert sender.pending == 0
    await sender.close()


async def test_unreachable_webhook_never_blocks_offer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_SECRET", SECRET)
    settings = make_settings(crm_pop={"support": {
        "webhook_url": "http://127.0.0.1:9/hook", "webhook_secret_env": "CRM_SECRET"}},
        webhook_backoff=30.0)
    server = await start_server(settings)
    try:
        async with CtiClient(server.url) as alice:
            await alice.login("alice", PASSWORDS["alice"])
            events = await alice.connect()
            server.desk.offer("alice", {"caller": "100"})
            offer = await events.wait_for("offer_created", within=2)
            await events.close()
        assert offer["agent_id"] == "alice"
    finally:
        await server.runner.cleanup()


class FakeHistory:
    def __init__(self) -> None:
        self.calls: list[tuple[str, float, int]] = []

    async def previous_interactions(self, caller: str, since: float, limit: int
                                    ) -> list[dict[str, Any]]:
        self.calls.append((caller, since, limit))
        return [
            {"interaction_id": "i1", "arrived_at": since + 10, "queue": "support",
             "channel": "voice", "outcome": "answered", "agent_id": "bob", "disposition": ""},
            {"interaction_id": "old", "arrived_at": since + 5, "queue": "sales",
             "channel": "email", "outcome": "answered", "agent_id": "bob",
             "disposition": "resolved"},
        ]


async def test_offer_history_follows_offer() -> None:
    history = FakeHistory()
    server = await start_server(make_settings(offer_history_days=7, offer_history_limit=3),
                                store=history)
    try:
        async with CtiClient(server.url) as alice:
            await alice.login("alice", PASSWORDS["alice"])
            events = await alice.connect()
            offer_id = server.desk.offer("alice", {"caller": "+90555"})
            found = await events.wait_for("offer_history_found")
            view = (await alice.get("/api/agents/alice"))["agent"]
            await events.close()
    finally:
        await server.runner.cleanup()

    assert found["offer_id"] == offer_id
    assert [entry["interaction_id"] for entry in found["interactions"]] == ["old"]
    assert found["days"] == 7
    assert history.calls[0][0] == "+90555"
    assert history.calls[0][2] == 3
    assert view["offer"]["pop"]["previous_interactions"] == found["interactions"]


@hypothesis_settings(max_examples=200, deadline=None)
@given(value=st.text(max_size=40))
def test_template_values_stay_inside_parameter(value: str) -> None:
    url = fill_template("https://crm.example/c?phone={caller}&x=1", {"caller": value})
    filled = url.removeprefix("https://crm.example/c?phone=").removesuffix("&x=1")

    assert unquote(filled) == value
    assert not set(filled) & set("&?#/= ")


@hypothesis_settings(max_examples=200, deadline=None)
@given(names=st.lists(st.text(min_size=1, max_size=12), max_size=8, unique=True))
def test_masking_keeps_names_hides_matches(names: list[str]) -> None:
    variables = {name: "value" for name in names}
    masked = mask_variables(variables, ["pin"])

    assert set(masked) == set(variables)
    for name in names:
        assert (masked[name] == "****") == ("pin" in name.lower())


async def test_history_in_pop_not_looked_up() -> None:
    history = FakeHistory()
    server = await start_server(make_settings(), store=history)
    try:
        async with CtiClient(server.url) as alice:
            await alice.login("alice", PASSWORDS["alice"])
            events = await alice.connect()
            server.desk.offer("alice", {"caller": "+90555", "previous_interactions": []})
            await events.wait_for("offer_created")
            await asyncio.sleep(0.05)
            await events.close()
    finally:
        await server.runner.cleanup()

    assert history.calls == []
    assert "offer_history_found" not in [message["type"] for message in events.received]
