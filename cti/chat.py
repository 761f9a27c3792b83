"""Web chat: customers chat through a WebSocket, agents reply from the console.

The adapter is thin. A customer's ``start`` becomes a chat interaction in the ACD (routed
by topic), messages become transcript entries, and the ACD's events (agent joined,
conversation ended) go back to the customer. Routing, capacity and records stay in the
ACD, CTI and store.

Customer protocol on ``/chat/ws`` (JSON text frames):

- in: ``{"type": "start", "name", "topic", "language"}``, ``{"type": "message", "text"}``,
  ``{"type": "typing", "typing": true}``, ``{"type": "leave"}``
- out: ``{"type": "queued", "position", "estimated_wait"}``, ``{"type": "agent_joined",
  "agent"}``, ``{"type": "message", "from": "agent", "text"}``, ``{"type": "typing",
  "typing"}``, ``{"type": "transferred"}``, ``{"type": "ended", "reason"}``,
  ``{"type": "error", "message"}``
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from aiohttp import WSMsgType, web

from cti.channel_settings import ChatSettings
from cti.ports import DeskError
from ivr.actions import QueueResult
from santral import events as ev
from santral.acd_service import AcdService, EnqueueRequest
from santral.events import EventBus
from santral.tasks import TaskSupervisor

log = structlog.get_logger(__name__)

STATIC = Path(__file__).parent / "static"


class ChatProtocolError(ValueError):
    """A customer sent a frame that does not follow the chat protocol."""


@dataclass
class ChatSession:
    """One customer's chat: their socket and the interaction it became."""

    socket: web.WebSocketResponse
    name: str = ""
    interaction_id: str = ""
    agent_id: str = ""
    ended: bool = False
    outbox: asyncio.Queue[dict[str, Any] | None] = field(default_factory=asyncio.Queue)


class ChatAdapter:
    """Serves the customer chat WebSocket and the widget; delivers agents' replies."""

    channel = "chat"

    def __init__(self, settings: ChatSettings, acd: AcdService, bus: EventBus) -> None:
        self._settings = settings
        self._acd = acd
        self._sessions: dict[str, ChatSession] = {}
        self._tasks = TaskSupervisor("chat")
        self._message_ids = itertools.count(1)
        acd.register_channel(self.channel, self)
        bus.subscribe(self._on_event)

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_get("/chat/ws", self._websocket)
        app.router.add_get("/chat/", self._page)
        app.router.add_get("/chat", self._to_page)
        app.router.add_get("/chat/widget.js", self._widget)
        app.router.add_get("/chat/topics", self._topics)
        app.on_shutdown.append(self._shutdown)

    @property
    def active(self) -> int:
        return len(self._sessions)

    # Agent side

    async def deliver(self, interaction_id: str, agent_id: str, text: str) -> str:
        session = self._sessions.get(interaction_id)
        if session is None or session.ended:
            raise DeskError("the customer has left this chat", "invalid_state", agent_id=agent_id)
        session.outbox.put_nowait({"type": "message", "from": "agent", "text": text})
        return f"chat-{next(self._message_ids)}"

    def _on_event(self, event: ev.Event) -> None:
        interaction_id = getattr(event, "interaction_id", "")
        session = self._sessions.get(interaction_id)
        if session is None:
            return
        if isinstance(event, ev.InteractionConnected):
            session.agent_id = event.agent_id
            name = self._agent_name(event.agent_id)
            session.outbox.put_nowait({"type": "agent_joined", "agent": name})
        elif isinstance(event, ev.InteractionEnded):
            if event.outcome == "transferred":
                return  # the chat goes on under a new interaction; see moved()
            self._close(session, event.outcome)
        elif isinstance(event, ev.TypingChanged) and event.sender == "agent":
            session.outbox.put_nowait({"type": "typing", "typing": event.typing})

    def moved(self, old_id: str, new_id: str) -> None:
        """Keep the customer's chat open under the interaction it was transferred to."""
        session = self._sessions.pop(old_id, None)
        if session is None or session.ended:
            return
        if not new_id:
            self._close(session, "transfer_failed")
            return
        session.interaction_id = new_id
        session.agent_id = ""
        self._sessions[new_id] = session
        session.outbox.put_nowait({"type": "transferred"})
        log.info("chat_transferred", old_interaction_id=old_id, interaction_id=new_id)

    def _close(self, session: ChatSession, reason: str) -> None:
        session.ended = True
        self._sessions.pop(session.interaction_id, None)
        session.outbox.put_nowait({"type": "ended", "reason": reason})
        session.outbox.put_nowait(None)

    def _agent_name(self, agent_id: str) -> str:
        agent = self._acd.settings.agents.get(agent_id)
        return agent.name.split()[0] if agent is not None and agent.name else agent_id

    # Customer side

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        origin = request.headers.get("Origin", "")
        allowed = self._settings.allowed_origins
        if allowed and origin not in allowed:
            log.warning("chat_origin_rejected", origin=origin)
            raise web.HTTPForbidden(text=f"origin {origin!r} may not open a chat")
        socket = web.WebSocketResponse(heartbeat=30, max_msg_size=64 * 1024)
        await socket.prepare(request)
        session = ChatSession(socket)
        writer = self._tasks.spawn(self._write(session), name="chat-writer")
        try:
            await self._read(session)
        finally:
            self._customer_left(session)
            session.outbox.put_nowait(None)
            await writer
            await socket.close()
        return socket

    async def _read(self, session: ChatSession) -> None:
        async for message in session.socket:
            if message.type is not WSMsgType.TEXT:
                break
            try:
                frame = _parse_frame(message.data, self._settings.max_message_length)
                if not self._handle_frame(session, frame):
                    break
            except (ChatProtocolError, DeskError) as error:
                session.outbox.put_nowait({"type": "error", "message": str(error)})
            if session.ended:
                break

    def _handle_frame(self, session: ChatSession, frame: dict[str, Any]) -> bool:
        """Act on one customer frame; return False when the customer leaves."""
        kind = frame["type"]
        if kind == "start":
            self._start(session, frame)
        elif not session.interaction_id:
            raise ChatProtocolError("send a start frame before anything else")
        elif kind == "message":
            self._acd.record_message(session.interaction_id, "in", session.name, frame["text"])
        elif kind == "typing":
            self._typing(session, bool(frame.get("typing")))
        elif kind == "leave":
            return False
        return True

    def _start(self, session: ChatSession, frame: dict[str, Any]) -> None:
        if session.interaction_id:
            raise ChatProtocolError("this chat has already started")
        name = str(frame.get("name", "")).strip()[:80]
        topic_name = str(frame.get("topic", ""))
        topic = self._settings.topics.get(topic_name)
        if not name:
            raise ChatProtocolError("a name is required to start a chat")
        if topic is None:
            raise ChatProtocolError(
                f"unknown topic {topic_name!r}; choose one of {sorted(self._settings.topics)}"
            )
        language = str(frame.get("language") or topic.language or "") or None
        request = EnqueueRequest(
            channel=self.channel,
            queue=topic.queue,
            caller=name,
            skills=dict(topic.skills),
            language=language,
            priority=topic.priority,
            attributes={"name": name, "topic": topic_name, "messages": []},
            pop={"caller_name": name, "topic": topic.label or topic_name},
        )
        outcome = self._acd.enqueue(request)
        if isinstance(outcome, QueueResult):
            session.ended = True
            session.outbox.put_nowait({"type": "ended", "reason": outcome.outcome})
            return
        session.name = name
        session.interaction_id = outcome
        self._sessions[outcome] = session
        log.info("chat_started", interaction_id=outcome, topic=topic_name)
        live = self._acd.interaction(outcome)
        if live is not None and live.connected_at is not None:
            # An auto-accepting agent took the chat inside ``enqueue``, before the session
            # was registered to hear the event.
            session.agent_id = live.agent_id
            session.outbox.put_nowait(
                {"type": "agent_joined", "agent": self._agent_name(live.agent_id)}
            )
        self._tasks.spawn(self._announce_position(session), name=f"chat-position-{outcome}")

    def _typing(self, session: ChatSession, typing: bool) -> None:
        live = self._acd.interaction(session.interaction_id)
        self._acd.publish(
            ev.TypingChanged(
                interaction_id=session.interaction_id,
                sender="customer",
                typing=typing,
                agent_id=live.agent_id if live is not None else "",
            )
        )

    def _customer_left(self, session: ChatSession) -> None:
        if session.ended or not session.interaction_id:
            return
        session.ended = True
        self._sessions.pop(session.interaction_id, None)
        live = self._acd.interaction(session.interaction_id)
        log.info("chat_customer_left", interaction_id=session.interaction_id)
        if live is not None and live.connected_at is not None:
            self._acd.end(session.interaction_id)
        else:
            self._acd.abandon(session.interaction_id, "caller_hangup")

    async def _announce_position(self, session: ChatSession) -> None:
        last: tuple[int, float | None] | None = None
        while not session.ended and not session.agent_id:
            place = self._acd.position(session.interaction_id)
            if place is not None and (place[0], place[1]) != last:
                last = (place[0], place[1])
                session.outbox.put_nowait(
                    {"type": "queued", "position": place[0], "estimated_wait": place[1]}
                )
            await asyncio.sleep(self._settings.position_interval)

    async def _write(self, session: ChatSession) -> None:
        while (frame := await session.outbox.get()) is not None:
            if session.socket.closed:
                return
            await session.socket.send_json(frame)
        await session.socket.close()

    async def _shutdown(self, app: web.Application) -> None:
        for session in list(self._sessions.values()):
            session.outbox.put_nowait({"type": "ended", "reason": "shutdown"})
            session.outbox.put_nowait(None)
        await self._tasks.close()

    # Pages

    async def _to_page(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPPermanentRedirect("/chat/")

    async def _page(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "chat.html")

    async def _widget(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "chat-widget.js")

    async def _topics(self, request: web.Request) -> web.Response:
        topics = [
            {"id": name, "label": topic.label or name}
            for name, topic in self._settings.topics.items()
        ]
        return web.json_response({"topics": topics})


def _parse_frame(data: str, max_length: int) -> dict[str, Any]:
    try:
        frame = json.loads(data)
    except json.JSONDecodeError as error:
        raise ChatProtocolError(f"invalid JSON: {error.msg}") from None
    if not isinstance(frame, dict) or frame.get("type") not in (
        "start",
        "message",
        "typing",
        "leave",
    ):
        raise ChatProtocolError("expected a JSON object with type start, message, typing or leave")
    if frame["type"] == "message":
        text = frame.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ChatProtocolError("a message needs non-empty text")
        if len(text) > max_length:
            raise ChatProtocolError(f"message is {len(text)} characters; the limit is {max_length}")
    return frame
