"""The engine process: wires config, store, IVR, ACD, CTI, HTTP and the connectors.

``Engine.start`` opens everything in dependency order and ``Engine.stop`` closes it in
reverse; ``serve`` runs an engine until SIGINT or SIGTERM and reloads dialplans on SIGHUP.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
import structlog
from aiohttp import web

import cti
from cti.app import AUTH_KEY
from cti.auth import AuthError
from cti.chat import ChatAdapter
from cti.mail import EmailAdapter
from cti.settings import demo_user_warnings
from ivr.dialplans import DialplanSet
from ivr.loader import load_dialplans
from santral import __version__
from santral.acd_service import AcdService
from santral.calls import CallService
from santral.clock import Clock, SystemClock
from santral.config import Config
from santral.errors import DialplanError, SantralError
from santral.events import EventBus
from santral.metrics import Metrics
from santral.reports.http import setup_routes as setup_report_routes
from santral.store import Store, open_store
from santral.store.privacy import retention_loop
from santral.tasks import TaskSupervisor
from santral.telephony.asterisk.connector import AsteriskConnector
from santral.telephony.base import Connector
from santral.telephony.sip.connector import SipConnector
from santral.telephony.twilio.connector import TwilioConnector
from santral.telephony.twilio.routes import setup_routes as setup_twilio_routes
from santral.telephony.virtual import VirtualConnector

log = structlog.get_logger(__name__)

CONNECTOR_HEALTH_INTERVAL = 5.0  # seconds between connector health samples


class Engine:
    """One santral process. Not reusable: start it once and stop it once."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        environ: Mapping[str, str] | None = None,
        twilio_rest_client: Any = None,
    ) -> None:
        """``twilio_rest_client`` replaces the live Twilio REST client (tests capture calls)."""
        self.config = config
        self._twilio_rest_client = twilio_rest_client
        self.clock = clock or SystemClock()
        self.environ = environ
        self.bus = EventBus(self.clock)
        self.ivr_settings = config.ivr.resolve_paths(config.base_dir)
        self.dialplans = self._load_dialplans()
        self.acd = AcdService(config.acd, self.bus, clock=self.clock)
        self.acd.watch_endpoints()
        self.store: Store | None = None
        self.metrics = Metrics()
        self.calls: CallService | None = None
        self.app = web.Application()
        self.connectors: dict[str, Connector] = {}
        self.virtual: VirtualConnector | None = None
        self.chat: ChatAdapter | None = None
        self.email: EmailAdapter | None = None
        self.http_port = 0
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self._tasks = TaskSupervisor("engine")
        self._stopped = False

    def _load_dialplans(self) -> DialplanSet:
        return load_dialplans(
            self.ivr_settings.dialplans, self.ivr_settings, environment=self.environ
        )

    def current_dialplans(self) -> DialplanSet:
        return self.dialplans

    # Lifecycle

    async def start(self) -> None:
        """Open the store, build the services, start connectors, listen on HTTP.

        If any part fails to start, everything already opened is closed again before the
        error propagates, so a failed start leaks no socket, task or session.
        """
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        self.store = await open_store(
            self.config.store, base_dir=self.config.base_dir, clock=self.clock
        )
        self.store.attach(self.bus)
        self.metrics.attach(self.bus)
        self.metrics.watch_store(self.store)
        self.metrics.add_agents(self.config.acd.agents)
        self._http = aiohttp.ClientSession()
        self.calls = CallService(
            self.current_dialplans,
            self.acd,
            self.bus,
            clock=self.clock,
            sessions=self.store,
            history=self.store,
            history_days=self.config.cti.offer_history_days,
            http=self._http,
        )
        self._setup_http()
        self._setup_written_channels()
        await self._start_connectors()
        if self.email is not None:
            try:
                await self.email.start()
            except OSError as error:
                raise SantralError(
                    f"cannot listen for SMTP on {self.config.email.listen_host}:"
                    f"{self.config.email.listen_port}: {error.strerror}; stop the other "
                    "program or set email.listen_port (SANTRAL_EMAIL__LISTEN_PORT)"
                ) from None
        await self._listen()

    def _setup_http(self) -> None:
        assert self.store is not None
        self.app.router.add_get("/healthz", self._healthz)
        cti.setup(
            self.app,
            desk=self.acd,
            bus=self.bus,
            settings=self.config.cti,
            store=_StoreHistory(self.store, self.clock),
            clock=self.clock,
        )
        setup_report_routes(
            self.app, self.store, metrics=self.metrics, authorize=self._authorize_report
        )
        for warning in demo_user_warnings(self.config.cti, [self.config.http.host]):
            log.warning("demo_users_exposed", warning=warning)

    def _authorize_report(self, request: web.Request, scope: str) -> None:
        """Let supervisors read reports; erasure and other admin actions need an admin."""
        principal = self.app[AUTH_KEY].authenticate_header(request.headers.get("Authorization"))
        if scope == "admin" and principal.role != "admin":
            raise AuthError(f"user {principal.user_id!r} is not an admin", "forbidden")
        principal.check_supervisor()

    def _setup_written_channels(self) -> None:
        if self.config.chat.enabled:
            self.chat = ChatAdapter(self.config.chat, self.acd, self.bus)
            self.chat.setup_routes(self.app)
        if self.config.email.enabled:
            self.email = EmailAdapter(
                self.config.email, self.acd, self.bus, base_dir=self.config.base_dir
            )

    async def _start_connectors(self) -> None:
        """Build the connectors the configuration enables, then start each one."""
        assert self.calls is not None
        self.virtual = VirtualConnector(self.calls)
        self.virtual.setup_routes(self.app)
        self._add_connector(self.virtual)
        self._add_telephony_connectors()
        for connector in self.connectors.values():
            await connector.start()
        self._tasks.spawn(self._watch_connectors(), name="connector-health")
        assert self.store is not None
        self._tasks.spawn(
            retention_loop(self.store, self.config.store, self.clock), name="retention"
        )

    def _add_telephony_connectors(self) -> None:
        assert self.calls is not None
        config = self.config
        environ = dict(self.environ) if self.environ is not None else None
        common: dict[str, Any] = {"clock": self.clock, "bus": self.bus, "store": self.store}
        if config.asterisk.fastagi.enabled or config.asterisk.ami.enabled:
            endpoints = {
                agent.endpoint: agent_id
                for agent_id, agent in config.acd.agents.items()
                if agent.endpoint
            }
            self._add_connector(
                AsteriskConnector(
                    config.asterisk, self.calls, agents=endpoints, environ=environ, **common
                )
            )
        if config.twilio.is_enabled(config.public_url, self.environ):
            twilio = TwilioConnector(
                config.twilio,
                self.calls,
                public_url=config.public_url,
                environ=self.environ,
                rest_client=self._twilio_rest_client,
                **common,
            )
            setup_twilio_routes(self.app, twilio)
            self._add_connector(twilio)
        if config.sip.enabled:
            self._add_connector(SipConnector(config.sip, self.calls, environ=environ, **common))

    def _add_connector(self, connector: Any) -> None:
        assert self.calls is not None
        self.connectors[connector.name] = connector
        self.calls.register_control(connector)

    async def _listen(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        host, port = self.config.http.host, self.config.http.port
        site = web.TCPSite(self._runner, host, port)
        try:
            await site.start()
        except OSError as error:
            raise SantralError(
                f"cannot listen for HTTP on {host}:{port}: {error.strerror}; "
                "stop the other program or set http.port (SANTRAL_HTTP__PORT)"
            ) from None
        self.http_port = _bound_port(site) or self.config.http.port
        log.info(
            "engine_listening",
            http=f"http://{self.config.http.host}:{self.http_port}",
            connectors=sorted(self.connectors),
            version=__version__,
        )

    async def stop(self) -> None:
        """Stop connectors, HTTP, services and the store, flushing every record (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        for connector in reversed(list(self.connectors.values())):
            try:
                await connector.stop()
            except Exception:
                log.exception("connector_stop_failed", connector=connector.name)
        if self.email is not None:
            await self.email.stop()
        if self._runner is not None:
            await self._runner.cleanup()
        await self._tasks.close()
        if self.calls is not None:
            await self.calls.close()
        await self.acd.close()
        if self._http is not None:
            await self._http.close()
        if self.store is not None:
            await self.store.close()
        log.info("engine_stopped")

    def reload_dialplans(self) -> bool:
        """Load the dialplans again; keep the running set and log errors if invalid."""
        try:
            dialplans = self._load_dialplans()
        except DialplanError as error:
            for problem in error.problems:
                log.error("dialplan_rejected", problem=str(problem))
            log.error("dialplan_reload_failed", kept_version=self.dialplans.version)
            return False
        previous = self.dialplans.version
        self.dialplans = dialplans
        log.info("dialplans_reloaded", previous=previous, version=dialplans.version)
        return True

    async def _watch_connectors(self) -> None:
        """Export each connector's health as a metric every few seconds."""
        while True:
            for name, connector in self.connectors.items():
                try:
                    healthy = bool(connector.health().get("connected", True))
                except Exception as error:
                    log.warning("connector_health_failed", connector=name, error=str(error))
                    healthy = False
                self.metrics.set_connector_health(name, healthy)
            await asyncio.sleep(CONNECTOR_HEALTH_INTERVAL)

    # HTTP

    async def _healthz(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = {
            "status": "ok",
            "version": __version__,
            "dialplans": self.dialplans.version,
            "connectors": {name: c.health() for name, c in self.connectors.items()},
        }
        return web.json_response(body)


class _StoreHistory:
    """The store's caller history in the form CTI requests."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def previous_interactions(
        self, caller: str, since: float, limit: int
    ) -> list[dict[str, Any]]:
        days = max(0.0, (self._clock.now() - since) / 86400)
        return await self._store.previous_interactions(caller, days, limit=limit)


def _bound_port(site: web.TCPSite) -> int | None:
    server = site._server  # aiohttp exposes the bound socket only here
    sockets = getattr(server, "sockets", None) or []
    for sock in sockets:
        return int(sock.getsockname()[1])
    return None


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """Return the factory of the event loop named in ``event_loop`` (uvloop or asyncio).

    Falls back to asyncio's own loop, with a warning, where uvloop is not installed.
    """
    if name == "uvloop":
        try:
            import uvloop
        except ImportError:
            log.warning("uvloop_missing", fallback="asyncio")
        else:
            return uvloop.new_event_loop
    return asyncio.new_event_loop


async def serve(config: Config) -> None:
    """Run an engine until SIGINT or SIGTERM; SIGHUP reloads the dialplans."""
    engine = Engine(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGHUP, engine.reload_dialplans)
    try:
        await engine.start()
        await stop.wait()
        log.info("engine_stopping")
    finally:
        await engine.stop()
