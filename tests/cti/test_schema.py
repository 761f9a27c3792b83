"""The OpenAPI document and the WebSocket message schema stay valid and complete."""

from __future__ import annotations

import dataclasses

import aiohttp
import jsonschema
from openapi_spec_validator import validate

from cti.app import load_events_schema
from cti.hub import SUPERVISOR_EVENTS
from cti.openapi import openapi_document
from santral import events
from tests.cti.conftest import CtiServer

EVENT_CLASSES = {
    cls.type: cls for cls in vars(events).values()
    if isinstance(cls, type) and issubclass(cls, events.Event) and cls is not events.Event
}


def test_openapi_document_valid() -> None:
    validate(openapi_document())


def test_events_schema_valid() -> None:
    jsonschema.Draft202012Validator.check_schema(load_events_schema())


def test_every_forwarded_event_described() -> None:
    definitions = load_events_schema()["$defs"]
    listed = {item["$ref"].rsplit("/", 1)[1] for item in definitions["server_message"]["oneOf"]}

    for kind in SUPERVISOR_EVENTS:
        cls = EVENT_CLASSES[kind]
        fields = {field.name for field in dataclasses.fields(cls)} | {"type", "version"}
        assert kind in listed
        assert set(definitions[kind]["required"]) == fields, kind
        assert definitions[kind]["properties"]["version"] == {"const": cls.version}, kind


async def test_schema_documents_served(server: CtiServer) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(server.url + "/api/openapi.json") as response:
            served = await response.json()
        async with session.get(server.url + "/api/events.schema.json") as response:
            schema = await response.json()

    assert served["openapi"] == "3.1.0"
    assert schema == load_events_schema()
