"""HTTP routes for reports, record look-ups, erasure, metrics and health.

``setup_routes(app, store, metrics=..., authorize=...)`` adds:

- ``GET /api/reports/{by}?from=…&to=…&interval=15|30|60|day&format=json|csv``
- ``GET /api/interactions/{id}`` and ``GET /api/callers/{caller}/interactions?days=30``
- ``POST /api/admin/erase`` with ``{"caller": "+90…"}``
- ``GET /metrics`` (Prometheus text), ``GET /healthz`` (the process runs; added only when
  the app has no ``/healthz`` yet) and ``GET /readyz`` (the store responds to a query).

``authorize(request, scope)`` guards every ``/api/`` route; ``scope`` is ``"reports"`` or
``"admin"``. It returns to allow the request, or raises an ``aiohttp.web.HTTPException``
(or any exception with ``code`` set to ``"unauthorized"`` or ``"forbidden"``) to refuse
it. Without ``authorize`` every ``/api/`` route returns 403, so records are never served
unauthenticated by mistake. ``/metrics``, ``/healthz`` and ``/readyz`` are open.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from aiohttp import web

from santral.metrics import CONTENT_TYPE, Metrics
from santral.reports.render import render_csv
from santral.reports.report import ReportError, compute_report
from santral.store.privacy import erase_caller
from santral.store.store import Store

Authorize = Callable[[web.Request, str], Awaitable[None] | None]
INTERVALS = {"15": 15, "30": 30, "60": 60, "day": 1440, "1440": 1440}
MAX_DAYS = 3660


def setup_routes(
    app: web.Application,
    store: Store,
    *,
    metrics: Metrics | None = None,
    authorize: Authorize | None = None,
) -> None:
    """Add the report, record, erasure, metrics and health routes to ``app``."""
    routes = _Routes(store, metrics, authorize)
    app.router.add_get("/api/reports/{by}", routes.report)
    app.router.add_get("/api/interactions/{record_id}", routes.interaction)
    app.router.add_get("/api/callers/{caller}/interactions", routes.caller_history)
    app.router.add_post("/api/admin/erase", routes.erase)
    app.router.add_get("/metrics", routes.metrics)
    app.router.add_get("/readyz", routes.readyz)
    if not _has_get_route(app, "/healthz"):  # the engine may serve a richer one
        app.router.add_get("/healthz", routes.healthz)


def _has_get_route(app: web.Application, path: str) -> bool:
    return any(
        route.method == "GET" and route.resource is not None
        and route.resource.canonical == path
        for route in app.router.routes()
    )


class _Routes:
    def __init__(self, store: Store, metrics: Metrics | None, authorize: Authorize | None):
        self._store = store
        self._metrics = metrics
        self._authorize = authorize

    async def report(self, request: web.Request) -> web.Response:
        await self._check(request, "reports")
        zone = ZoneInfo(self._store.settings.report_timezone)
        query = request.query
        start = _parse_time(query.get("from"), "from", zone)
        end = _parse_time(query.get("to"), "to", zone)
        interval = INTERVALS.get(query.get("interval", "60"))
        if interval is None:
            raise _bad_request("interval must be 15, 30, 60 or day")
        try:
            result = await compute_report(self._store, start, end,
                                          by=request.match_info["by"], interval_minutes=interval)
        except ReportError as error:
            raise _bad_request(str(error)) from None
        if query.get("format", "json") == "csv":
            return web.Response(text=render_csv(result), content_type="text/csv")
        return web.json_response(result.to_dict())

    async def interaction(self, request: web.Request) -> web.Response:
        await self._check(request, "reports")
        record = await self._store.interaction(request.match_info["record_id"])
        if record is None:
            raise web.HTTPNotFound(text="interaction not found")
        return web.json_response(record)

    async def caller_history(self, request: web.Request) -> web.Response:
        await self._check(request, "reports")
        days = _parse_number(request.query.get("days", "30"), "days", MAX_DAYS)
        rows = await self._store.previous_interactions(request.match_info["caller"], days)
        return web.json_response({"interactions": rows})

    async def erase(self, request: web.Request) -> web.Response:
        await self._check(request, "admin")
        try:
            body = await request.json()
        except ValueError:
            raise _bad_request("the body must be JSON such as {\"caller\": \"+90…\"}") from None
        caller = body.get("caller") if isinstance(body, dict) else None
        if not isinstance(caller, str) or not caller.strip():
            raise _bad_request("missing \"caller\": the number or address to erase")
        result = await erase_caller(self._store, caller)
        return web.json_response(result.to_dict())

    async def metrics(self, request: web.Request) -> web.Response:
        if self._metrics is None:
            raise web.HTTPNotFound(text="metrics are not enabled")
        response = web.Response(body=self._metrics.render())
        response.headers["Content-Type"] = CONTENT_TYPE
        return response

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        if await self._store.ping():
            return web.json_response({"status": "ready", "store": self._store.database_name})
        return web.json_response({"status": "store unreachable"}, status=503)

    async def _check(self, request: web.Request, scope: str) -> None:
        if self._authorize is None:
            raise web.HTTPForbidden(text="no authorization is configured for the API")
        try:
            outcome = self._authorize(request, scope)
            if inspect.isawaitable(outcome):
                await outcome
        except web.HTTPException:
            raise
        except Exception as error:
            code = getattr(error, "code", None)
            if code == "unauthorized":
                raise web.HTTPUnauthorized(text=str(error)) from None
            if code == "forbidden":
                raise web.HTTPForbidden(text=str(error)) from None
            raise


def _parse_time(text: str | None, name: str, zone: ZoneInfo) -> float:
    if not text:
        raise _bad_request(f"missing {name}: an ISO date-time or POSIX seconds")
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        message = f"invalid {name} {text!r}: use an ISO date-time or POSIX seconds"
        raise _bad_request(message) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=zone)).timestamp()


def _parse_number(text: str, name: str, maximum: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _bad_request(f"invalid {name} {text!r}: expected a number") from None
    if not 0 < value <= maximum:
        raise _bad_request(f"invalid {name} {text!r}: expected more than 0 and at most {maximum}")
    return value


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=message)
