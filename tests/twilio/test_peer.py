"""The scripted Twilio peer against a plain TwiML app that checks every signature."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from twilio.request_validator import RequestValidator

from santral.testing.twilio_peer import PeerError, Speech, TwilioPeer
from tests.twilio.wire import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL

VOICE = """<Response><Say language="en-US">Hello.</Say>
<Enqueue waitUrl="https://voice.example.test/twilio/wait" action="https://voice.example.test/twilio/after">q</Enqueue>
</Response>"""
AFTER = """<Response><Gather input="dtmf speech" action="https://voice.example.test/twilio/speech"/>
<Record action="https://voice.example.test/twilio/recorded" finishOnKey="#"/></Response>"""


class TwimlApp:
    """A TwiML app that rejects any request whose signature does not validate."""

    def __init__(self) -> None:
        self.validator = RequestValidator(AUTH_TOKEN)
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.waits = 0

    async def handle(self, request: web.Request) -> web.Response:
        form = {name: str(value) for name, value in (await request.post()).items()}
        url = PUBLIC_URL + request.raw_path
        if not self.validator.validate(url, form, request.headers.get("X-Twilio-Signature", "")):
            return web.Response(status=403)
        name = request.match_info["name"]
        self.requests.append((name, form))
        return web.Response(text=self.reply(name), content_type="text/xml")

    def reply(self, name: str) -> str:
        if name == "voice":
            return VOICE
        if name == "wait":
            self.waits += 1
            return (
                "<Response><Pause length='1'/></Response>"
                if self.waits < 3
                else "<Response><Leave/></Response>"
            )
        if name == "after":
            return AFTER
        return "<Response><Hangup/></Response>"


@pytest.fixture
async def app_and_peer() -> AsyncIterator[tuple[TwimlApp, TwilioPeer]]:
    twiml = TwimlApp()
    app = web.Application()
    app.router.add_post("/twilio/{name}", twiml.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    target = f"http://127.0.0.1:{runner.addresses[0][1]}"
    async with TwilioPeer(
        target_url=target, public_url=PUBLIC_URL, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN
    ) as peer:
        yield twiml, peer
    await runner.cleanup()


async def test_peer_follows_enqueue_wait_url(app_and_peer: tuple[TwimlApp, TwilioPeer]) -> None:
    twiml, peer = app_and_peer
    call = peer.call("+905551112233", "+908505550100", [Speech("billing please", 0.8)])
    await asyncio.wait_for(call.finished(), 5)

    names = [name for name, _ in twiml.requests]
    assert names == ["voice", "wait", "wait", "wait", "after", "speech", "status"]
    assert dict(twiml.requests[1][1])["QueuePosition"] == "1"
    assert dict(twiml.requests[4][1])["QueueResult"] == "leave"
    assert dict(twiml.requests[5][1])["SpeechResult"] == "billing please"
    assert dict(twiml.requests[-1][1])["CallStatus"] == "completed"
    assert call.say_texts() == ["Hello."]


async def test_peer_posts_recording(app_and_peer: tuple[TwimlApp, TwilioPeer]) -> None:
    twiml, peer = app_and_peer
    call = peer.call("+905551112233", "+908505550100", [None])
    await asyncio.wait_for(call.finished(), 5)
    recorded = dict(twiml.requests[-2][1])
    assert twiml.requests[-2][0] == "recorded"
    assert recorded["RecordingUrl"].startswith("https://api.twilio.com/2010-04-01/Accounts/")
    assert recorded["Digits"] == "#"


async def test_peer_rejects_outside_target() -> None:
    with pytest.raises(PeerError, match="not on this machine"):
        TwilioPeer(
            target_url="http://203.0.113.9:8080",
            public_url=PUBLIC_URL,
            account_sid=ACCOUNT_SID,
            auth_token=AUTH_TOKEN,
        )


async def test_peer_reports_unknown_verb(app_and_peer: tuple[TwimlApp, TwilioPeer]) -> None:
    twiml, peer = app_and_peer
    twiml.reply = lambda name: "<Response><Teleport/></Response>" if name == "voice" else ""  # type: ignore[method-assign]
    call = peer.call("+905551112233", "+908505550100", [])
    await asyncio.wait_for(call.finished(), 5)
    errors = [line.value for line in call.transcript if line.kind == "error"]
    assert errors == ["unknown TwiML verb <Teleport>"]
