"""Callers for the contract tests: one driver per connector, each on its real wire protocol.

A driver places a call into a running ``Engine`` through its connector's real protocol.
The virtual caller runs in process, the scripted Twilio peer sends signed webhooks, and the
scripted Asterisk speaks FastAGI and AMI. For SIP, sipp calls through Kamailio and a
baresip phone is the agent. The contract tests use only ``CallerDriver``, so everything
specific to one connector lives here.

Every call a driver places presses English (``1``) then sales (``3``) and waits in the
sales queue. Agent ``bob`` answers on an endpoint each driver names in ``environ``.
"""

from __future__ import annotations

import asyncio
import contextlib
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from aiohttp import web

from santral.engine import Engine
from santral.events import OfferCreated
from santral.telephony.asterisk.connector import AsteriskConnector
from santral.telephony.sip.connector import SipConnector
from santral.telephony.twilio import EngineSessionStore, TwilioConnector, TwilioSettings
from santral.telephony.twilio import setup_routes as setup_twilio_routes
from santral.telephony.virtual import CallerOutput, KeyScript
from santral.testing.asterisk_peer import AmiServer, AsteriskPeer, CallerSession
from santral.testing.sip_peers import (
    Baresip,
    Kamailio,
    SippResult,
    free_udp_port,
    run_sipp,
    send_info,
)
from santral.testing.twilio_peer import Agent, PeerCall, Speech, TwilioPeer

SALES_KEYS = ["1", "3"]
SURVEY_KEY = "5"
CALLER = "+905551112233"
SAMPLE_NUMBER = "+908505550100"
WAIT_LIMIT = 15.0

# Made-up Twilio credentials: the peer signs with them and the connector checks them.
TWILIO_ACCOUNT_SID = "AC" + "c0" * 16
TWILIO_AUTH_TOKEN = "0f" * 16
TWILIO_PUBLIC_URL = "https://contract.example.test"
TWILIO_BOB = "+15005550006"

AMI_SECRET_ENV = "SANTRAL_CONTRACT_AMI_SECRET"
AMI_SECRET = "contract-secret"
ASTERISK_BOB = "PJSIP/bob"

CONTRACT_DIR = Path(__file__).resolve().parent
SIP_CALLER_TEMPLATE = CONTRACT_DIR / "sipp_sales_caller.xml"
KAMAILIO_CONFIG = CONTRACT_DIR.parent / "sip" / "kamailio.cfg"
SIP_EXTENSION = "100"
SIP_CALL_LIMIT = 90.0
# The two ways a sipp caller waits for santral's BYE (see sipp_sales_caller.xml). The
# patient one presses 5 every 1.5 s, which rates the call when the survey asks, and hangs
# up when the driver sends it an INFO (``SipDriver.hang_up``).
SIP_PATIENT_WAIT = """<pause milliseconds="1500"/>
  <label id="press"/>
  <nop><action><exec play_pcap_audio="/usr/share/sip-tester/dtmf_2833_5.pcap"/></action></nop>
  <recv request="INFO" optional="true" timeout="1500" ontimeout="press" next="hangup"/>
  <recv request="BYE"/>"""
SIP_IMPATIENT_WAIT = '<recv request="BYE" timeout="2500" ontimeout="hangup"/>'


class CallerDriver(Protocol):
    """One connector's way of placing a caller into the engine and playing bob's phone.

    The test calls ``prepare`` and then ``environ`` before the engine starts, ``attach``
    after, then ``place_call`` once per test, and ``close`` once the engine has stopped.
    """

    name: str
    # True when a hang-up from bob's console leaves the caller in the dialplan, to answer
    # the survey (the connector has ``hangup_agent``).
    survey_after_agent: bool
    # True when a miss rings bob's endpoint (busy phone); False when bob rejects on screen.
    miss_rings_agent: bool

    def environ(self) -> dict[str, str]:
        """Return ``SANTRAL_…`` overrides the engine needs for this connector."""
        ...

    async def prepare(self, workdir: Path) -> None:
        """Start the peers the engine connects to (AMI server, proxy, phones)."""
        ...

    async def attach(self, engine: Engine) -> None:
        """Start whatever needs the running engine (a connector built with a test REST client)."""
        ...

    async def place_call(self, *, hang_up_in_queue: bool = False) -> None:
        """Start a caller that presses English and sales, then waits in the queue.

        With ``hang_up_in_queue``, a caller with a fixed script (sipp) hangs up a short
        while after it reaches the queue. Other callers hang up only when ``hang_up`` runs.
        """
        ...

    async def answer_offer(self, engine: Engine, offer: OfferCreated) -> None:
        """Have bob accept ``offer`` and his phone answer the agent leg."""
        ...

    async def miss_offer(self, engine: Engine, offer: OfferCreated) -> None:
        """Have bob miss ``offer``: his phone is busy or does not answer, or he rejects it."""
        ...

    async def agent_leaves(self, engine: Engine, offer: OfferCreated) -> None:
        """Have bob hang up on his phone while the caller stays on the line to rate the call.

        The caller then answers the survey with ``5`` and the dialplan ends the call.
        """
        ...

    def agent_rings(self) -> int:
        """Return how many times the wire shows bob's endpoint being rung (or connected)."""
        ...

    async def hang_up(self) -> None:
        """Hang the caller up now (or let a scripted caller do it) and wait for the end."""
        ...

    async def finished(self) -> None:
        """Wait until the caller's side of the call is over; fail after a bounded time."""
        ...

    async def close(self) -> None:
        """Stop every peer this driver started, by process id where it is a process."""
        ...


class ConsultDriver(Protocol):
    """The hooks a driver adds so the consult cases run for its connector.

    The consult cases in ``test_consult.py`` run for every connector whose control has the
    ``ConsultControl`` operations, and fail with a message naming these hooks when its driver
    lacks them. Bob consults ``consult_number`` while the caller holds.
    """

    # A number (or SIP URI) the driver's peer answers at once when the connector dials it.
    consult_number: str

    async def consulted_hangs_up(self, engine: Engine, call_id: str) -> None:
        """Have the consulted party hang up on the wire while bob consults it.

        The connector then bridges the caller with bob again and calls
        ``CallFlow.consult_leg_ended``.
        """
        ...


CONSULT_HOOKS = ("consult_number", "consulted_hangs_up")


async def until(condition: Callable[[], object], seconds: float = WAIT_LIMIT) -> None:
    """Wait until ``condition()`` is true, checking every 20 ms; fail after ``seconds``."""
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"condition not met within {seconds} s")


async def accept(engine: Engine, offer: OfferCreated) -> None:
    await engine.acd.accept(offer.agent_id, offer.offer_id)


# The virtual caller


class VirtualDriver:
    """The in-process virtual caller; its agent leg is the console, answered at once."""

    name = "virtual"
    survey_after_agent = True
    miss_rings_agent = False

    def __init__(self) -> None:
        self.heard: list[CallerOutput] = []
        self._engine: Engine | None = None
        self._call: asyncio.Task[str] | None = None

    def environ(self) -> dict[str, str]:
        return {}

    async def prepare(self, workdir: Path) -> None:
        return None

    async def attach(self, engine: Engine) -> None:
        self._engine = engine

    async def place_call(self, *, hang_up_in_queue: bool = False) -> None:
        assert self._engine is not None and self._engine.virtual is not None
        # The survey key waits as type-ahead until the survey asks for it.
        script = KeyScript(keys=[*SALES_KEYS, SURVEY_KEY], key_gap=0.05, time_scale=0.0)
        call = self._engine.virtual.place_call(CALLER, SAMPLE_NUMBER, script, self.heard.append)
        self._call = asyncio.ensure_future(call)

    async def answer_offer(self, engine: Engine, offer: OfferCreated) -> None:
        await accept(engine, offer)

    async def miss_offer(self, engine: Engine, offer: OfferCreated) -> None:
        # The virtual agent leg always answers, so the miss is the console's reject.
        await engine.acd.reject(offer.agent_id, offer.offer_id)

    async def agent_leaves(self, engine: Engine, offer: OfferCreated) -> None:
        # The console is bob's phone, and the virtual connector drops only the agent leg.
        await engine.acd.hangup(offer.agent_id, offer.interaction_id)

    def agent_rings(self) -> int:
        return sum(1 for output in self.heard if output.kind == "connected")

    async def hang_up(self) -> None:
        assert self._call is not None
        self._call.cancel()  # cancelling place_call is the caller putting the phone down
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self._call, WAIT_LIMIT)

    async def finished(self) -> None:
        assert self._call is not None
        await asyncio.wait_for(asyncio.shield(self._call), WAIT_LIMIT)

    async def close(self) -> None:
        if self._call is not None and not self._call.done():
            await self.hang_up()

    # ConsultDriver: the virtual consulted leg answers at once unless a result is scripted.

    consult_number = "+905550009999"

    async def consulted_hangs_up(self, engine: Engine, call_id: str) -> None:
        assert engine.virtual is not None
        await engine.virtual.end_consult_leg(call_id)


# Twilio


class TwilioDriver:
    """The scripted Twilio platform: signed webhooks, TwiML followed, REST calls captured.

    The engine enables its own Twilio connector only with live credentials, and its REST
    client would then reach api.twilio.com. So this driver builds the connector on the
    engine's call service with the peer's capturing REST client, and serves it on
    127.0.0.1.
    """

    name = "twilio"
    survey_after_agent = True
    miss_rings_agent = True
    consult_number = "+15005550009"

    def __init__(self) -> None:
        self.peer = TwilioPeer(
            target_url="http://127.0.0.1:1",
            public_url=TWILIO_PUBLIC_URL,
            account_sid=TWILIO_ACCOUNT_SID,
            auth_token=TWILIO_AUTH_TOKEN,
            time_scale=0.01,
        )
        self.connector: TwilioConnector | None = None
        self.call: PeerCall | None = None
        self._runner: web.AppRunner | None = None
        self._peer_session = contextlib.AsyncExitStack()

    def environ(self) -> dict[str, str]:
        # The value is read as YAML, so the number is quoted to stay a string.
        return {"SANTRAL_ACD__AGENTS__BOB__ENDPOINT": f"'{TWILIO_BOB}'"}

    async def prepare(self, workdir: Path) -> None:
        await self._peer_session.enter_async_context(self.peer)
        # The consulted party talks until the test ends the consultation or hangs it up.
        self.peer.agents[self.consult_number] = Agent(talk_seconds=600.0)

    async def attach(self, engine: Engine) -> None:
        assert engine.calls is not None and engine.store is not None
        self.connector = TwilioConnector(
            TwilioSettings(public_url=TWILIO_PUBLIC_URL, reply_budget=2.0),
            engine.calls,
            clock=engine.clock,
            bus=engine.bus,
            store=EngineSessionStore(engine.store),
            rest_client=self.peer.rest_client(),
            environ={
                "TWILIO_ACCOUNT_SID": TWILIO_ACCOUNT_SID,
                "TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN,
            },
        )
        engine.calls.register_control(self.connector)
        await self.connector.start()
        app = web.Application()
        setup_twilio_routes(app, self.connector)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.peer.target_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def place_call(self, *, hang_up_in_queue: bool = False) -> None:
        inputs: list[str | Speech | None] = list(SALES_KEYS)
        self.call = self.peer.call(CALLER, SAMPLE_NUMBER, inputs)

    async def answer_offer(self, engine: Engine, offer: OfferCreated) -> None:
        self.peer.agents[TWILIO_BOB] = Agent(answer="answer", talk_seconds=600.0)
        assert self.call is not None
        # The caller rates the call once bob leaves the conference.
        self.call.inputs.append(SURVEY_KEY)
        await accept(engine, offer)

    async def miss_offer(self, engine: Engine, offer: OfferCreated) -> None:
        self.peer.agents[TWILIO_BOB] = Agent(answer="busy")
        await accept(engine, offer)

    async def agent_leaves(self, engine: Engine, offer: OfferCreated) -> None:
        assert self.call is not None
        self.call.agent_hangs_up()

    async def consulted_hangs_up(self, engine: Engine, call_id: str) -> None:
        leg = self.peer.leg_to(self.consult_number)
        assert leg is not None, f"no live call to {self.consult_number}"
        leg.hang_up()

    def agent_rings(self) -> int:
        transcript = self.call.transcript if self.call is not None else []
        return sum(1 for line in transcript if (line.kind, line.value) == ("dial", TWILIO_BOB))

    async def hang_up(self) -> None:
        call = self.call
        assert call is not None
        # Twilio only hangs up a caller it has put in the queue's hold loop.
        await until(lambda: bool(call.requested("/twilio/queue")))
        call.hang_up()
        await self.finished()

    async def finished(self) -> None:
        assert self.call is not None
        await asyncio.wait_for(self.call.finished(), WAIT_LIMIT)

    async def close(self) -> None:
        await self._peer_session.aclose()
        if self.connector is not None:
            await self.connector.stop()
        if self._runner is not None:
            await self._runner.cleanup()


# Asterisk


class AsteriskDriver:
    """The scripted Asterisk: a FastAGI caller, an AMI server and bob's PJSIP phone."""

    name = "asterisk"
    survey_after_agent = True
    miss_rings_agent = True

    def __init__(self) -> None:
        self.ami = AmiServer(secret=AMI_SECRET)
        self.peer = AsteriskPeer(self.ami)
        self.caller: CallerSession | None = None
        self._connector: AsteriskConnector | None = None

    def environ(self) -> dict[str, str]:
        return {
            "SANTRAL_ASTERISK__AMI__HOST": "127.0.0.1",
            "SANTRAL_ASTERISK__AMI__PORT": str(self.ami.port),
            "SANTRAL_ASTERISK__AMI__USERNAME": "santral",
            "SANTRAL_ASTERISK__AMI__SECRET_ENV": AMI_SECRET_ENV,
            "SANTRAL_ASTERISK__QUEUE_POLL_INTERVAL": "0.05",
            "SANTRAL_ACD__AGENTS__BOB__ENDPOINT": ASTERISK_BOB,
        }

    async def prepare(self, workdir: Path) -> None:
        await self.ami.start()
        self.peer.add_phone(ASTERISK_BOB)
        self.peer.add_phone(f"PJSIP/{self.consult_number}")

    async def attach(self, engine: Engine) -> None:
        connector = engine.connectors["asterisk"]
        assert isinstance(connector, AsteriskConnector)
        assert connector.ami is not None
        await connector.ami.wait_logged_in(5.0)
        self._connector = connector

    async def place_call(self, *, hang_up_in_queue: bool = False) -> None:
        assert self._connector is not None
        port = self._connector.fastagi_address[1]
        self.caller = await self.peer.call(port, "ivr?lang=en", SALES_KEYS)

    async def answer_offer(self, engine: Engine, offer: OfferCreated) -> None:
        assert self.caller is not None
        self.peer.phones[ASTERISK_BOB].behaviour = "answer"
        self.caller.after_conversation.append(SURVEY_KEY)
        await accept(engine, offer)

    async def miss_offer(self, engine: Engine, offer: OfferCreated) -> None:
        self.peer.phones[ASTERISK_BOB].behaviour = "busy"
        await accept(engine, offer)

    async def agent_leaves(self, engine: Engine, offer: OfferCreated) -> None:
        assert self.caller is not None
        self.caller.keys.append(SURVEY_KEY)
        self.peer.agent_hangs_up(ASTERISK_BOB)

    def agent_rings(self) -> int:
        return self.peer.phones[ASTERISK_BOB].rings

    async def hang_up(self) -> None:
        caller = self.caller
        assert caller is not None
        # Hang up once the caller hears music on hold, as a waiting caller would.
        await until(lambda: any("StartMusicOnHold" in line for line in caller.commands))
        await caller.hang_up()
        await self.finished()

    async def finished(self) -> None:
        assert self.caller is not None
        await self.caller.finished(WAIT_LIMIT)

    async def close(self) -> None:
        await self.ami.stop()

    # ConsultDriver: the number is a phone of the scripted Asterisk, dialled as PJSIP/<number>.

    consult_number = "5550009999"

    async def consulted_hangs_up(self, engine: Engine, call_id: str) -> None:
        self.peer.agent_hangs_up(f"PJSIP/{self.consult_number}")


# SIP


class SipDriver:
    """sipp callers through Kamailio into the engine's own SIP connector; baresip is bob.

    sipp plays a fixed script, so a caller that should hang up in the queue gets a short
    patience when it is placed. bob's baresip rings without answering by itself, and the
    driver answers or rejects the call through baresip's control port.
    """

    name = "sip"
    survey_after_agent = True
    miss_rings_agent = True
    consult_number = "carol"  # a user at Kamailio: carol's baresip, which answers at once

    def __init__(self) -> None:
        self.kamailio: Kamailio | None = None
        self.phone: Baresip | None = None
        self.consulted: Baresip | None = None
        self._patient = False
        self.caller: asyncio.Task[SippResult] | None = None
        self._workdir = Path()
        self._sip_port = free_udp_port()
        self._rtp_low = 40000 + (free_udp_port() % 100) * 100
        self._connector: SipConnector | None = None

    def environ(self) -> dict[str, str]:
        assert self.kamailio is not None
        port = self.kamailio.port
        return {
            "SANTRAL_SIP__ENABLED": "true",
            "SANTRAL_SIP__SERVER": "127.0.0.1",
            "SANTRAL_SIP__PORT": str(port),
            "SANTRAL_SIP__EXTENSIONS": f"['{SIP_EXTENSION}']",
            "SANTRAL_SIP__LOCAL_ADDRESS": "127.0.0.1",
            "SANTRAL_SIP__LOCAL_PORT": str(self._sip_port),
            "SANTRAL_SIP__RTP_PORT_MIN": str(self._rtp_low),
            "SANTRAL_SIP__RTP_PORT_MAX": str(self._rtp_low + 98),
            "SANTRAL_SIP__REGISTER_TIMEOUT": "2",
            "SANTRAL_ACD__AGENTS__BOB__ENDPOINT": f"sip:bob@127.0.0.1:{port}",
        }

    async def prepare(self, workdir: Path) -> None:
        self._workdir = workdir
        self.kamailio = Kamailio(KAMAILIO_CONFIG, workdir / "kamailio")
        await asyncio.to_thread(self.kamailio.start)
        source = workdir / "bob-source.wav"
        await asyncio.to_thread(write_silence, source, 120.0)
        self.phone = Baresip("bob", self.kamailio.port, workdir / "baresip", source, "manual")
        self.phone.start()
        self.consulted = Baresip("carol", self.kamailio.port, workdir / "carol", source, "auto")
        self.consulted.start()
        await self._wait_registered("bob")
        await self._wait_registered("carol")

    async def _wait_registered(self, user: str) -> None:
        kamailio = self.kamailio
        assert kamailio is not None
        for _ in range(50):
            if await asyncio.to_thread(kamailio.is_registered, user):
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"{user} did not register with Kamailio within 5 s")

    async def attach(self, engine: Engine) -> None:
        connector = engine.connectors["sip"]
        assert isinstance(connector, SipConnector)
        self._connector = connector  # its start() returned once the extension registered
        connector.trace = []

    async def place_call(self, *, hang_up_in_queue: bool = False) -> None:
        assert self.kamailio is not None
        wait = SIP_IMPATIENT_WAIT if hang_up_in_queue else SIP_PATIENT_WAIT
        self._patient = not hang_up_in_queue
        scenario = self._workdir / "caller.xml"
        text = SIP_CALLER_TEMPLATE.read_text(encoding="utf-8")
        scenario.write_text(text.replace("@WAIT@", wait), encoding="utf-8")
        self.caller = asyncio.create_task(
            run_sipp(
                scenario,
                proxy_port=self.kamailio.port,
                service=SIP_EXTENSION,
                workdir=self._workdir / "sipp",
                time_limit=SIP_CALL_LIMIT,
            )
        )

    async def answer_offer(self, engine: Engine, offer: OfferCreated) -> None:
        await accept(engine, offer)
        await self._phone_command("accept")

    async def miss_offer(self, engine: Engine, offer: OfferCreated) -> None:
        await accept(engine, offer)
        await self._phone_command("hangup")  # baresip refuses a ringing call with 486 Busy

    async def agent_leaves(self, engine: Engine, offer: OfferCreated) -> None:
        # baresip sends BYE on the answered call; the sipp caller keeps pressing 5.
        assert self.phone is not None
        await asyncio.to_thread(self.phone.command, "hangup")

    def agent_rings(self) -> int:
        trace = self._connector.trace if self._connector is not None else None
        invite = b"INVITE sip:bob@"
        return sum(1 for way, data in trace or [] if way == "out" and data.startswith(invite))

    async def _phone_command(self, command: str) -> None:
        connector, phone = self._connector, self.phone
        assert connector is not None and phone is not None
        await until(lambda: any(leg.ringing for leg in connector.agent_legs.values()))
        await asyncio.to_thread(phone.command, command)

    async def hang_up(self) -> None:
        # An impatient caller hangs up by itself, and a patient one when it gets the INFO.
        if self._patient and self._connector is not None:
            for call in list(self._connector.callers.values()):
                send_info(call.invite.header("Contact"), call.invite.call_id)
        await self.finished()

    async def consulted_hangs_up(self, engine: Engine, call_id: str) -> None:
        assert self.consulted is not None
        await asyncio.to_thread(self.consulted.command, "hangup")

    async def finished(self) -> None:
        assert self.caller is not None
        outcome = await asyncio.wait_for(asyncio.shield(self.caller), SIP_CALL_LIMIT + 5)
        assert outcome.returncode == 0, outcome.output[-2000:]

    async def close(self) -> None:
        if self.caller is not None and not self.caller.done():
            with contextlib.suppress(AssertionError, TimeoutError):
                await self.finished()
        if self.phone is not None:
            self.phone.stop()
        if self.consulted is not None:
            self.consulted.stop()
        if self.kamailio is not None:
            self.kamailio.stop()


def write_silence(path: Path, seconds: float) -> None:
    """Write ``seconds`` of 8 kHz 16-bit silence: baresip hangs up when its source ends."""
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes(b"\x00\x00" * int(8000 * seconds))
