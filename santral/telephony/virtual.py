"""The virtual caller: calls placed into the engine without a phone system.

``VirtualConnector`` runs scripted callers through the real IVR, ACD and CTI. Each caller
presses the keys of a ``KeyScript``; what the caller would hear is reported as
``CallerOutput`` lines. ``santral call NUMBER --live`` uses it through the running
engine's WebSocket at ``/api/virtual/call``; tests and load tests use it in process. The
agent leg is the agent's console: ``connect_agent`` connects at once, because the agent
has already accepted the offer there. Consultations (``ConsultControl``) are modelled in
memory the same way: the consulted leg answers at once unless a result is scripted, and
``end_consult_leg`` plays the consulted party hanging up.

Key scripts are space-separated tokens, one per prompt as in ``santral call``. A token is
keys (``0``-``9``, ``*``, ``#``, so ``79927398713#`` is eleven digits and the terminator),
``-`` (or ``w``) to press nothing so the collection times out, or ``!`` to hang up. When a
collection ends in the middle of a token, the rest of that token is dropped. Keys of later
tokens go to the next collections, as a caller typing ahead would.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiohttp import WSMsgType, web

from ivr.actions import (
    Action,
    CallerHangup,
    CallInfo,
    DigitsCollected,
    Enqueue,
    Event,
    Gather,
    Hangup,
    Play,
    Prompt,
    PromptFinished,
    Record,
    RecordingFinished,
    Transfer,
)
from ivr.dtmf import DtmfCollector
from ivr.sealing import mask
from santral.clock import VirtualClock
from santral.errors import ConnectorError
from santral.tasks import TaskSupervisor
from santral.telephony.base import AgentEndpoint, AgentLegResult, CallFlow

log = structlog.get_logger(__name__)

WAIT_TOKENS = frozenset({"w", "-"})
HANGUP_TOKEN = "!"
VALID_KEYS = frozenset("0123456789*#")
DIGIT_RUN = re.compile(r"\d{4,}")


@dataclass(frozen=True)
class CallerOutput:
    """One line of the virtual caller's output: its ``kind`` and text."""

    kind: str  # prompt, gather, queued, connected, hold, consult, transfer, ended, error
    text: str
    data: dict[str, Any] = field(default_factory=dict)


OutputSink = Callable[[CallerOutput], None]


def parse_keys(text: str) -> list[str]:
    """Split a key script into tokens; raise ``ValueError`` naming an invalid token."""
    tokens = text.split()
    for token in tokens:
        if token in WAIT_TOKENS or token == HANGUP_TOKEN or set(token) <= VALID_KEYS:
            continue
        raise ValueError(
            f"invalid key {token!r} in {text!r}; use keys 0-9, * and #, '-' to press nothing "
            "or '!' to hang up, with one space-separated token per prompt"
        )
    return tokens


@dataclass
class KeyScript:
    """A virtual caller's script: keys to press, and when to hang up.

    ``key_gap`` is the time between key presses. ``hang_up_in_queue`` hangs up after that
    many seconds of waiting in a queue (None waits for an agent). ``time_scale``
    multiplies every real wait, so tests can run the IVR's timeouts faster.
    """

    keys: list[str] = field(default_factory=list)
    key_gap: float = 0.3
    hang_up_in_queue: float | None = None
    time_scale: float = 1.0


@dataclass
class _VirtualCall:
    call_id: str
    script: KeyScript
    output: OutputSink
    hung_up: asyncio.Event = field(default_factory=asyncio.Event)
    connected_agent: str = ""
    transferred_to: str = ""
    # The party the agent consults while the caller holds, until completed or cancelled.
    consulted: AgentEndpoint | None = None


class VirtualConnector:
    """Places scripted calls into the engine; implements ``CallControl`` and ``ConsultControl``."""

    name = "virtual"

    def __init__(self, calls: CallFlow, *, call_ids: Callable[[], str] | None = None) -> None:
        self._calls = calls
        self._active: dict[str, _VirtualCall] = {}
        # Ids must stay unique across engine restarts: the store keys records by them.
        self._new_call_id = call_ids or (lambda: f"virtual-{uuid.uuid4().hex[:16]}")
        self._tasks = TaskSupervisor("virtual")
        # Results of the next agent legs per agent id, for testing misses. An agent with none
        # left is connected at once, because the agent accepted the offer in the console.
        self.agent_leg_results: dict[str, list[AgentLegResult]] = {}
        # Results of the next consulted legs, keyed by the target's agent id (or address for
        # a number). A target with none left answers at once.
        self.consult_leg_results: dict[str, list[AgentLegResult]] = {}
        self.completed = 0

    # Connector

    async def start(self) -> None:
        log.info("connector_started", connector=self.name)

    async def stop(self) -> None:
        for call in self._active.values():
            call.hung_up.set()
        await self._tasks.close()

    def health(self) -> dict[str, object]:
        return {"connected": True, "calls": len(self._active), "completed": self.completed}

    # CallControl

    async def connect_agent(
        self, call_id: str, agent: AgentEndpoint, ring_timeout: float, whisper: str = ""
    ) -> AgentLegResult:
        call = self._active.get(call_id)
        if call is None or call.hung_up.is_set():
            return AgentLegResult.CALLER_GONE
        scripted = self.agent_leg_results.get(agent.agent_id)
        if scripted:
            result = scripted.pop(0)
            if result is not AgentLegResult.ANSWERED:
                return result
        call.connected_agent = agent.agent_id
        call.output(
            CallerOutput("connected", f"connected to agent {agent.display_name or agent.agent_id}")
        )
        return AgentLegResult.ANSWERED

    async def hold(self, call_id: str, on_hold: bool) -> None:
        call = self._active.get(call_id)
        if call is not None:
            call.output(CallerOutput("hold", "on hold" if on_hold else "off hold"))

    async def transfer(self, call_id: str, target: str) -> None:
        call = self._active.get(call_id)
        if call is not None:
            call.transferred_to = target
            call.output(CallerOutput("transfer", f"transferred to {target}"))
            call.hung_up.set()

    async def hangup_agent(self, call_id: str) -> None:
        call = self._active.get(call_id)
        if call is not None:
            if call.consulted is not None:
                # The agent's leg ends the consultation too; the caller comes off hold.
                call.consulted = None
                call.output(CallerOutput("hold", "off hold"))
            call.output(CallerOutput("agent_left", "the agent hung up"))

    async def hangup(self, call_id: str) -> None:
        call = self._active.get(call_id)
        if call is not None:
            call.consulted = None
            call.output(CallerOutput("ended", "the other side hung up"))
            call.hung_up.set()

    # ConsultControl

    async def consult(
        self, call_id: str, target: AgentEndpoint, ring_timeout: float
    ) -> AgentLegResult:
        call = self._active.get(call_id)
        if call is None or call.hung_up.is_set():
            return AgentLegResult.CALLER_GONE
        if call.consulted is not None:
            raise ConnectorError(
                f"a consultation with {_label(call.consulted)} is in progress; "
                "complete or cancel it first",
                call_id=call_id,
            )
        call.output(CallerOutput("hold", "on hold"))
        scripted = self.consult_leg_results.get(target.agent_id or target.address)
        result = scripted.pop(0) if scripted else AgentLegResult.ANSWERED
        log.info("consult_leg_result", call_id=call_id, target=_label(target), result=result.value)
        if result is not AgentLegResult.ANSWERED:
            call.output(CallerOutput("hold", "off hold"))
            return result
        call.consulted = target
        return result

    async def complete_consult(self, call_id: str) -> None:
        call, target = self._consultation(call_id)
        call.consulted = None
        call.connected_agent = target.agent_id or target.address
        call.output(CallerOutput("connected", f"connected to {_label(target)}"))

    async def cancel_consult(self, call_id: str) -> None:
        call, _ = self._consultation(call_id)
        call.consulted = None
        call.output(CallerOutput("hold", "off hold"))

    async def end_consult_leg(self, call_id: str) -> None:
        """Hang up the consulted party, as the target putting the phone down.

        The caller is bridged with the agent again, and the connector calls
        ``CallFlow.consult_leg_ended``. Does nothing without a consultation in progress.
        """
        call = self._active.get(call_id)
        if call is None or call.consulted is None:
            return
        call.consulted = None
        call.output(CallerOutput("hold", "off hold"))
        await self._calls.consult_leg_ended(call_id)

    def consulting(self, call_id: str) -> AgentEndpoint | None:
        """Return the party the call's agent is consulting, or None."""
        call = self._active.get(call_id)
        return call.consulted if call is not None else None

    def _consultation(self, call_id: str) -> tuple[_VirtualCall, AgentEndpoint]:
        call = self._active.get(call_id)
        if call is None or call.consulted is None:
            raise ConnectorError("no consultation is in progress", call_id=call_id)
        return call, call.consulted

    # Calls

    async def place_call(
        self,
        caller: str,
        called: str,
        script: KeyScript,
        output: OutputSink,
        *,
        language: str = "",
        entry: str | None = None,
        variables: dict[str, Any] | None = None,
    ) -> str:
        """Run one call to its end and return its call id.

        Cancelling the coroutine hangs the caller up, as a caller putting down the phone.
        """
        call_id = self._new_call_id()
        call = _VirtualCall(call_id, script, output)
        self._active[call_id] = call
        info = CallInfo(
            call_id=call_id,
            caller=caller,
            called=called,
            connector=self.name,
            language=language,
            variables=dict(variables or {}),
        )
        try:
            actions = await self._calls.start_call(info, self, entry=entry)
            await self._converse(call, actions)
        finally:
            self._active.pop(call_id, None)
            self.completed += 1
            await self._calls.caller_hung_up(call_id)
        return call_id

    async def _converse(self, call: _VirtualCall, actions: list[Action]) -> None:
        keys = list(call.script.keys)
        while actions and not call.hung_up.is_set():
            event: Event | None = None
            for action in actions:
                event = await self._perform(call, action, keys)
                if event is not None or call.hung_up.is_set():
                    break
            if event is None:
                return
            actions = await self._calls.handle(call.call_id, event)

    async def _perform(self, call: _VirtualCall, action: Action, keys: list[str]) -> Event | None:
        match action:
            case Play():
                self._announce(call, action.prompts, action.sensitive)
                return PromptFinished()
            case Gather():
                self._announce(call, action.prompts, action.sensitive)
                return await self._gather(call, action, keys)
            case Record():
                self._announce(call, action.prompts)
                call.output(CallerOutput("record", f"recording {action.name} (beep)"))
                return RecordingFinished(name=action.name, duration=1.0, reason="finish_key")
            case Enqueue():
                return await self._wait_in_queue(call, action)
            case Transfer():
                call.output(CallerOutput("transfer", f"transferred to {action.target}"))
                call.hung_up.set()
            case Hangup():
                call.output(CallerOutput("ended", f"call ended ({action.reason})"))
                call.hung_up.set()
        return None

    def _announce(self, call: _VirtualCall, prompts: list[Prompt], sensitive: bool = False) -> None:
        for prompt in prompts:
            text = prompt.text or prompt.value
            name = prompt.value
            if sensitive:
                # A read-back of a sensitive value: show it masked, as logs and records do.
                text = DIGIT_RUN.sub(lambda run: mask(run.group()), text)
                name = DIGIT_RUN.sub(lambda run: mask(run.group()), name)
            call.output(CallerOutput("prompt", text, {"type": prompt.type, "name": name}))

    async def _gather(self, call: _VirtualCall, gather: Gather, keys: list[str]) -> Event:
        """Press scripted keys into a DTMF collector, waiting (scaled) real time."""
        clock = VirtualClock()
        collector = DtmfCollector(gather, prompt_playing=False)
        collector.prompt_finished(clock.now())
        result: DigitsCollected | None = None
        while result is None:
            if not keys or keys[0] in WAIT_TOKENS:
                if keys:
                    keys.pop(0)
                deadline = collector.deadline()
                clock.set(deadline if deadline is not None else clock.now())
                result = collector.expire(clock.now())
                continue
            if keys[0] == HANGUP_TOKEN:
                keys.pop(0)
                call.output(CallerOutput("ended", "caller hung up"))
                call.hung_up.set()
                return CallerHangup()
            token = keys[0]
            clock.advance(call.script.key_gap)
            result = collector.press(token[0], clock.now())
            if result is None and len(token) > 1:
                keys[0] = token[1:]
            else:
                keys.pop(0)  # the token is used up, or collection ended and drops its rest
        if await self._sleep_or_hang_up(call, clock.now() * call.script.time_scale):
            return CallerHangup()
        shown = "*" * len(result.digits) if gather.sensitive else result.digits
        call.output(CallerOutput("gather", f"pressed {shown or '(nothing)'} ({result.reason})"))
        return result

    async def _wait_in_queue(self, call: _VirtualCall, action: Enqueue) -> Event:
        status = self._calls.queue_status(call.call_id)
        data: dict[str, Any] = {"queue": action.queue}
        if status is not None:
            data.update(position=status.position, estimated_wait=status.estimated_wait)
        call.output(CallerOutput("queued", f"waiting in queue {action.queue}", data))
        waiting = asyncio.ensure_future(self._calls.wait_queue_result(call.call_id))
        hung_up = asyncio.ensure_future(call.hung_up.wait())
        limit = call.script.hang_up_in_queue
        try:
            done, _ = await asyncio.wait(
                {waiting, hung_up},
                timeout=None if limit is None else limit * call.script.time_scale,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            for future in (waiting, hung_up):
                future.cancel()
        if waiting in done and not waiting.cancelled():
            return waiting.result()
        call.output(CallerOutput("ended", "caller hung up while waiting"))
        call.hung_up.set()
        return CallerHangup()

    async def _sleep_or_hang_up(self, call: _VirtualCall, seconds: float) -> bool:
        """Wait ``seconds``; return True if the call was hung up meanwhile."""
        if seconds <= 0:
            return call.hung_up.is_set()
        try:
            await asyncio.wait_for(call.hung_up.wait(), seconds)
        except TimeoutError:
            return False
        return True

    # WebSocket for ``santral call --live``

    def setup_routes(self, app: web.Application) -> None:
        """Serve ``/api/virtual/call`` (loopback clients only)."""
        app.router.add_get("/api/virtual/call", self._websocket)

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        if request.remote not in ("127.0.0.1", "::1"):
            log.warning("virtual_call_rejected", remote=request.remote)
            raise web.HTTPForbidden(text="virtual calls are accepted from loopback only")
        socket = web.WebSocketResponse(heartbeat=30)
        await socket.prepare(request)
        message = await socket.receive()
        if message.type is not WSMsgType.TEXT:
            await socket.close()
            return socket
        try:
            spec, script = _read_call_request(message.data)
        except ValueError as error:
            log.warning("virtual_call_request_invalid", error=str(error))
            await socket.send_json({"kind": "error", "text": f"invalid call request: {error}"})
            await socket.close()
            return socket

        outputs: asyncio.Queue[CallerOutput | None] = asyncio.Queue()
        call_task = self._tasks.spawn(
            self._live_call(spec, str(spec["called"]), script, outputs), name="virtual-live-call"
        )
        watcher = self._tasks.spawn(
            self._hang_up_on_close(socket, call_task), name="virtual-live-watch"
        )
        try:
            while (item := await outputs.get()) is not None:
                if socket.closed:
                    break
                await socket.send_json({"kind": item.kind, "text": item.text, "data": item.data})
        finally:
            call_task.cancel()
            watcher.cancel()
            await socket.close()
        return socket

    async def _hang_up_on_close(
        self, socket: web.WebSocketResponse, call: asyncio.Task[None]
    ) -> None:
        """Hang the caller up when the terminal that placed the call goes away."""
        async for _ in socket:
            pass
        if not call.done():
            log.info("virtual_caller_disconnected")
            call.cancel()

    async def _live_call(
        self,
        spec: dict[str, Any],
        called: str,
        script: KeyScript,
        outputs: asyncio.Queue[CallerOutput | None],
    ) -> None:
        try:
            await self.place_call(
                str(spec.get("caller", "+15550100")),
                called,
                script,
                outputs.put_nowait,
                language=str(spec.get("language", "")),
                entry=str(spec["entry"]) if spec.get("entry") else None,
            )
        finally:
            outputs.put_nowait(None)


def _label(target: AgentEndpoint) -> str:
    return target.display_name or target.agent_id or target.address


def _read_call_request(data: str) -> tuple[dict[str, Any], KeyScript]:
    """Parse a ``--live`` call request; raise ``ValueError`` naming what is invalid."""
    spec = json.loads(data)
    if not isinstance(spec, dict) or "called" not in spec:
        raise ValueError("expected a JSON object with 'called' and optional 'keys'")
    keys = parse_keys(str(spec.get("keys", "")))
    try:
        key_gap = float(spec.get("key_gap", 0.3))
    except (TypeError, ValueError):
        raise ValueError(f"key_gap must be seconds, got {spec.get('key_gap')!r}") from None
    return spec, KeyScript(keys=keys, key_gap=key_gap)


async def run_live_call_async(
    url: str,
    number: str,
    keys: str,
    language: str,
    caller: str,
    output: OutputSink,
    entry: str | None = None,
) -> None:
    """Place a call into a running engine at ``url`` and report what the caller hears."""
    import aiohttp

    async with aiohttp.ClientSession() as session, session.ws_connect(url) as socket:
        request = {
            "called": number,
            "keys": keys,
            "language": language,
            "caller": caller,
            "entry": entry,
        }
        await socket.send_json(request)
        async for message in socket:
            if message.type is not WSMsgType.TEXT:
                break
            data = json.loads(message.data)
            output(CallerOutput(data["kind"], data["text"], data.get("data", {})))


def run_live_call(
    config_path: str,
    number: str,
    keys: str,
    language: str,
    caller: str = "+15550100",
    entry: str | None = None,
) -> None:
    """Place a live call into the engine configured by ``config_path`` and print it.

    Raises ``ValueError`` for an invalid key script and ``OSError`` (or an aiohttp
    ``ClientError``) when no engine listens at the configured address.
    """
    from santral.config import load_config

    parse_keys(keys)
    config = load_config(config_path)
    host = "127.0.0.1" if config.http.host in ("0.0.0.0", "::", "") else config.http.host
    url = f"http://{host}:{config.http.port}/api/virtual/call"

    def show(item: CallerOutput) -> None:
        print(f"[{item.kind}] {item.text}", flush=True)

    asyncio.run(run_live_call_async(url, number, keys, language, caller, show, entry))
