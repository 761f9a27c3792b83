"""Wiring of CTI into the engine's aiohttp application."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from cti.api import RestApi, json_errors
from cti.auth import Authenticator
from cti.hub import Hub
from cti.openapi import EVENTS_SCHEMA, openapi_document
from cti.pop import WebhookSender
from cti.ports import AgentDesk, InteractionHistory
from cti.settings import CtiSettings
from cti.ws import WebSocketEndpoint
from santral.clock import Clock, SystemClock
from santral.events import EventBus, QueueStatsUpdated
from santral.tasks import TaskSupervisor

log = structlog.get_logger(__name__)

PACKAGE = Path(__file__).resolve().parent
STATIC = PACKAGE / "static"
HUB_KEY = web.AppKey("cti_hub", Hub)
AUTH_KEY = web.AppKey("cti_auth", Authenticator)
STATS_MIN_GAP = 0.2  # seconds between two queue statistics snapshots
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def setup(
    app: web.Application,
    *,
    desk: AgentDesk,
    bus: EventBus,
    settings: CtiSettings,
    store: InteractionHistory | None = None,
    clock: Clock | None = None,
) -> Hub:
    """Add the CTI routes, WebSocket, pages and background work to ``app``; return the hub.

    Routes: ``/api/...`` (REST), ``/cti/ws`` (WebSocket), ``/cti/`` (agent console),
    ``/cti/wallboard`` (supervisor wallboard), ``/cti/static/...``. On shutdown, open
    WebSockets are closed with 1001 and webhook deliveries and timers are cancelled.
    """
    clock = clock or SystemClock()
    webhooks = WebhookSender(settings, clock=clock)
    hub = Hub(bus=bus, desk=desk, settings=settings, store=store, clock=clock, webhooks=webhooks)
    auth = Authenticator(settings, clock)
    app[HUB_KEY] = hub
    app.middlewares.append(json_errors)
    app[AUTH_KEY] = auth

    app.router.add_routes(RestApi(desk, hub, auth).routes())
    app.router.add_get("/api/openapi.json", _json_handler(openapi_document()))
    app.router.add_get("/api/events.schema.json", _json_handler(load_events_schema()))
    app.router.add_get("/cti/ws", WebSocketEndpoint(hub, auth, settings, clock).handle)
    app.router.add_get("/cti", _redirect("/cti/"))
    app.router.add_get("/cti/", _page("console.html"))
    app.router.add_get("/cti/wallboard", _page("wallboard.html"))
    app.router.add_static("/cti/static/", STATIC, append_version=False)

    async def run_hub(app: web.Application) -> AsyncIterator[None]:
        tasks = TaskSupervisor("cti_stats")
        hub.start()
        tasks.spawn(
            publish_queue_stats(desk, bus, settings.queue_stats_interval, hub.stats_changed),
            name="cti_queue_stats",
        )
        yield
        await tasks.close()
        await hub.close()
        await webhooks.close()

    async def close_websockets(app: web.Application) -> None:
        await hub.close_clients()

    app.cleanup_ctx.append(run_hub)
    app.on_shutdown.append(close_websockets)
    return hub


async def publish_queue_stats(
    desk: AgentDesk, bus: EventBus, interval: float, changed: asyncio.Event
) -> None:
    """Publish a ``QueueStatsUpdated`` whenever a queue figure changed.

    Checks every ``interval`` seconds, and sooner once ``changed`` is set (the hub sets
    it on agent and interaction events), at most once per ``STATS_MIN_GAP`` seconds.
    Runs until cancelled. A failing ``desk.queues()`` is logged and tried again next time.
    """
    last: list[dict[str, Any]] | None = None
    while True:
        try:
            queues = desk.queues()
        except Exception:
            log.exception("cti_queue_stats_failed")
            queues = last or []
        if queues != last:
            bus.publish(QueueStatsUpdated(queues=queues))
            last = queues

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), interval)
        changed.clear()
        await asyncio.sleep(STATS_MIN_GAP)  # lets a burst of events settle into one snapshot


def load_events_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(EVENTS_SCHEMA.read_text(encoding="utf-8"))
    return schema


def _json_handler(document: dict[str, Any]) -> Any:
    text = json.dumps(document, indent=2)

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=text, content_type="application/json")

    return handler


def _redirect(location: str) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(location)

    return handler


def _page(name: str) -> Any:
    path = STATIC / name

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(path, headers=PAGE_HEADERS)

    return handler
