"""The report, record, erasure, metrics and health routes over real HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from santral.metrics import Metrics
from santral.reports.http import setup_routes
from santral.store import Store, StoreSettings, open_store
from tests.store.scenarios import abandoned_in_queue, answered_call, new_timeline

HOUR = 1_699_999_200.0
TOKEN = "Bearer test-token"


class _Denied(Exception):
    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(f"denied: {code}")


def _authorize(request: web.Request, scope: str) -> None:
    if request.headers.get("Authorization") != TOKEN:
        raise _Denied("unauthorized")
    if scope == "admin" and request.headers.get("X-Role") != "admin":
        raise _Denied("forbidden")


@dataclass
class Api:
    client: TestClient[web.Request, web.Application]
    store: Store
    metrics: Metrics


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    line = new_timeline(HOUR)
    store = await open_store(StoreSettings(url=f"sqlite:///{tmp_path / 'h.db'}"),
                             clock=line.clock)
    metrics = Metrics()
    store.attach(line.bus)
    metrics.attach(line.bus)
    answered_call(line, HOUR, "c1", caller="+901", wait=10)
    abandoned_in_queue(line, HOUR + 1000, "c2", wait=30, caller="+902")
    await store.flush()
    app = web.Application()
    setup_routes(app, store, metrics=metrics, authorize=_authorize)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    yield Api(client, store, metrics)
    await client.close()
    await store.close()


async def test_report_json(api: Api) -> None:
    response = await api.client.get("/api/reports/queue", params={
        "from": str(HOUR), "to": "2023-11-14T23:00:00+00:00"}, headers={"Authorization": TOKEN})
    body = await response.json()

    assert response.status == 200
    assert body["rows"][0]["key"] == "sales"
    assert body["rows"][0]["offered"] == 2
    assert body["rows"][0]["abandoned"] == 1


async def test_report_csv_by_interval(api: Api) -> None:
    response = await api.client.get("/api/reports/interval", params={
        "from": str(HOUR), "to": str(HOUR + 3600), "interval": "15", "format": "csv"},
        headers={"Authorization": TOKEN})
    text = await response.text()

    assert response.status == 200
    assert response.content_type == "text/csv"
    assert len(text.splitlines()) == 1 + 4 + 1


async def test_report_bad_request(api: Api) -> None:
    headers = {"Authorization": TOKEN}
    wrong_by = await api.client.get("/api/reports/team", params={
        "from": str(HOUR), "to": str(HOUR + 60)}, headers=headers)
    no_from = await api.client.get("/api/reports/queue", headers=headers)

    assert wrong_by.status == 400
    assert "invalid grouping 'team'" in await wrong_by.text()
    assert no_from.status == 400
    assert "missing from" in await no_from.text()


async def test_api_requires_authorization(api: Api) -> None:
    anonymous = await api.client.get("/api/interactions/c1")
    agent = await api.client.post("/api/admin/erase", json={"caller": "+901"},
                                  headers={"Authorization": TOKEN})

    assert anonymous.status == 401
    assert agent.status == 403


async def test_api_closed_without_authorize(tmp_path: Path) -> None:
    store = await open_store(StoreSettings(url=f"sqlite:///{tmp_path / 'h.db'}"))
    app = web.Application()
    setup_routes(app, store)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        response = await client.get("/api/interactions/c1")
        health = await client.get("/healthz")
    await store.close()

    assert response.status == 403
    assert health.status == 200


async def test_interaction_and_history(api: Api) -> None:
    headers = {"Authorization": TOKEN}
    found = await api.client.get("/api/interactions/i-c1", headers=headers)
    missing = await api.client.get("/api/interactions/nope", headers=headers)
    history = await api.client.get("/api/callers/+901/interactions", params={"days": "2"},
                                   headers=headers)

    assert found.status == 200
    assert (await found.json())["ivr_path"] == ["welcome", "menu"]
    assert missing.status == 404
    assert [row["id"] for row in (await history.json())["interactions"]] == ["c1"]


async def test_admin_erase(api: Api) -> None:
    headers = {"Authorization": TOKEN, "X-Role": "admin"}
    response = await api.client.post("/api/admin/erase", json={"caller": "+901"},
                                     headers=headers)
    empty = await api.client.post("/api/admin/erase", json={}, headers=headers)

    assert response.status == 200
    assert (await response.json())["counts"]["interactions"] == 1
    assert empty.status == 400


async def test_metrics_text(api: Api) -> None:
    api.metrics.set_connector_health("twilio", True)
    response = await api.client.get("/metrics")
    text = await response.text()

    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert 'santral_interactions_offered_total{channel="voice",queue="sales"} 2.0' in text
    assert 'santral_interactions_answered_total{channel="voice",queue="sales"} 1.0' in text
    assert 'santral_interactions_abandoned_total{channel="voice",queue="sales"} 1.0' in text
    assert 'santral_wait_seconds_bucket{le="10.0",queue="sales"} 1.0' in text
    assert 'santral_handle_seconds_count{queue="sales"} 1.0' in text
    assert 'santral_connector_up{connector="twilio"} 1.0' in text


async def test_readyz_reports_store(api: Api) -> None:
    response = await api.client.get("/readyz")

    assert response.status == 200
    assert (await response.json())["store"] == "sqlite"


async def test_existing_healthz_kept(tmp_path: Path) -> None:
    async def engine_health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "source": "engine"})

    store = await open_store(StoreSettings(url=f"sqlite:///{tmp_path / 'h.db'}"))
    app = web.Application()
    app.router.add_get("/healthz", engine_health)
    setup_routes(app, store)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        response = await client.get("/healthz")
        body = await response.json()
    await store.close()

    assert body["source"] == "engine"
