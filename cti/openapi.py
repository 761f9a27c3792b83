"""The OpenAPI 3.1 document of the CTI REST API, served at ``/api/openapi.json``.

Request bodies come from the pydantic models the handlers validate with, so the document
and the checks cannot drift apart. The rest is written out here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from cti.api import (
    ConsultBody,
    HoldBody,
    LoginBody,
    MessageBody,
    StatusBody,
    TransferBody,
    WrapupEndBody,
    WrapupExtendBody,
)

API_VERSION = "1.0.0"
EVENTS_SCHEMA = Path(__file__).resolve().parent / "schema" / "events.schema.json"
SHARED_SCHEMAS = ("agent_view", "offer", "pop", "interaction", "consult_view", "queue_stats",
                  "previous_interaction", "written_message")

_ERROR = {"$ref": "#/components/responses/Error"}
_OK = {
    "description": "Done; the resulting events follow on the WebSocket.",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Ok"}}},
}
_PATH_PARAMETERS = {
    name: {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
    for name in ("agent_id", "offer_id", "interaction_id")
}


def _body(model: Any) -> dict[str, Any]:
    return {
        "required": True,
        "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
    }


def _action(summary: str, parameters: list[str], body: Any = None) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "parameters": [{"$ref": f"#/components/parameters/{name}"} for name in parameters],
        "responses": {"200": _OK, "400": _ERROR, "401": _ERROR, "403": _ERROR, "404": _ERROR,
                      "409": _ERROR, "501": _ERROR, "502": _ERROR},
    }
    if body is not None:
        operation["requestBody"] = _body(body)
    return {"post": operation}


def _view(summary: str, schema: dict[str, Any], parameters: list[str] | None = None
          ) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "responses": {
            "200": {"description": summary,
                    "content": {"application/json": {"schema": schema}}},
            "401": _ERROR, "403": _ERROR, "404": _ERROR,
        },
    }
    if parameters:
        operation["parameters"] = [{"$ref": f"#/components/parameters/{name}"}
                                   for name in parameters]
    return {"get": operation}


def _paths() -> dict[str, Any]:
    agent = "/api/agents/{agent_id}"
    interaction = agent + "/interactions/{interaction_id}"
    ids = ["agent_id", "interaction_id"]
    ref = "#/components/schemas/"
    return {
        "/api/login": {"post": {
            "summary": "Exchange a user id and password for a session token",
            "security": [],
            "requestBody": _body(LoginBody),
            "responses": {
                "200": {"description": "Logged in", "content": {"application/json": {
                    "schema": {"$ref": ref + "Login"}}}},
                "400": _ERROR, "401": _ERROR, "429": _ERROR,
            },
        }},
        "/api/logout": _action("End the session of the token sent", []),
        "/api/me": _view("The authenticated user", {"type": "object", "properties": {
            "user": {"$ref": ref + "User"}}}),
        "/api/codes": _view("Reason and disposition codes", {"$ref": ref + "Codes"}),
        "/api/agents": _view("Every agent's view (supervisors only)", {
            "type": "object", "properties": {
                "agents": {"type": "array", "items": {"$ref": ref + "AgentView"}},
                "seq": {"type": "integer"}}}),
        "/api/queues": _view("Queue statistics (supervisors only)", {
            "type": "object", "properties": {
                "queues": {"type": "array", "items": {"$ref": ref + "QueueStats"}},
                "seq": {"type": "integer"}}}),
        agent: _view("One agent's view (the agent itself or a supervisor)", {
            "type": "object", "properties": {"agent": {"$ref": ref + "AgentView"},
                                             "seq": {"type": "integer"}}}, ["agent_id"]),
        agent + "/status": _action(
            "Set the agent's status (the agent itself or a supervisor)", ["agent_id"], StatusBody
        ),
        agent + "/offers/{offer_id}/accept": _action("Accept an offer", ["agent_id", "offer_id"]),
        agent + "/offers/{offer_id}/reject": _action("Reject an offer", ["agent_id", "offer_id"]),
        interaction + "/hangup": _action("Hang up an interaction", ids),
        interaction + "/hold": _action("Put on hold or resume", ids, HoldBody),
        interaction + "/transfer": _action(
            "Blind transfer to a queue, an agent or a number; with consult, start a "
            "consultation as /consult does", ids, TransferBody
        ),
        interaction + "/consult": _action(
            "Consult a queue, an agent or a number while the caller holds; progress follows "
            "as consult_changed events", ids, ConsultBody
        ),
        interaction + "/consult/complete": _action(
            "Complete the consult transfer: the caller joins the consulted party", ids
        ),
        interaction + "/consult/cancel": _action(
            "Cancel the consultation: the consulted leg ends and the caller is back", ids
        ),
        interaction + "/messages": _action("Send an email or chat reply", ids, MessageBody),
        agent + "/wrapup/end": _action(
            "End wrap-up with a disposition code and notes", ["agent_id"], WrapupEndBody
        ),
        agent + "/wrapup/extend": _action("Extend wrap-up", ["agent_id"], WrapupExtendBody),
        "/api/openapi.json": {"get": {
            "summary": "This document", "security": [],
            "responses": {"200": {"description": "OpenAPI 3.1 document"}}}},
        "/api/events.schema.json": {"get": {
            "summary": "JSON Schema of every WebSocket message on /cti/ws", "security": [],
            "responses": {"200": {"description": "JSON Schema 2020-12 document"}}}},
    }


def _schemas() -> dict[str, Any]:
    string = {"type": "string"}
    bodies: list[type[BaseModel]] = [
        LoginBody, StatusBody, HoldBody, TransferBody, ConsultBody, WrapupEndBody,
        WrapupExtendBody, MessageBody,
    ]
    schemas: dict[str, Any] = {model.__name__: model.model_json_schema() for model in bodies}
    schemas.update({
        "Ok": {"type": "object", "required": ["ok"], "properties": {"ok": {"const": True}}},
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message"], "properties": {
                "code": {"enum": ["invalid", "unauthorized", "forbidden", "locked", "not_found",
                                  "invalid_state", "not_supported", "failed"]},
                "message": string}}}},
        "User": {"type": "object", "required": ["user_id", "name", "role", "agent_id"],
                 "properties": {"user_id": string, "name": string,
                                "role": {"enum": ["agent", "supervisor", "admin"]},
                                "agent_id": string}},
        "Login": {"type": "object", "required": ["token", "user"], "properties": {
            "token": string, "user": {"$ref": "#/components/schemas/User"}}},
        "Codes": {"type": "object", "properties": {
            "reason_codes": {"type": "array", "items": string},
            "disposition_codes": {"type": "array", "items": string}}},
        "AgentView": {"$ref": "#/components/schemas/agent_view"},
        "QueueStats": {"$ref": "#/components/schemas/queue_stats"},
    })
    schemas.update(_shared_event_schemas())
    return schemas


def _shared_event_schemas() -> dict[str, Any]:
    """Return the view schemas of the WebSocket schema, with refs pointing into this document."""
    definitions = json.loads(EVENTS_SCHEMA.read_text(encoding="utf-8"))["$defs"]
    text = json.dumps({name: definitions[name] for name in SHARED_SCHEMAS})
    shared: dict[str, Any] = json.loads(text.replace('"#/$defs/', '"#/components/schemas/'))
    return shared


def openapi_document() -> dict[str, Any]:
    """Return the OpenAPI 3.1 document as a JSON-ready dict."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "santral CTI API",
            "version": API_VERSION,
            "description": (
                "Agent and supervisor API of santral. Live events come over the WebSocket "
                "/cti/ws, described by /api/events.schema.json."
            ),
        },
        "security": [{"bearer": []}],
        "paths": _paths(),
        "components": {
            "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer",
                "description": "A session token from /api/login or a configured API token.",
            }},
            "parameters": _PATH_PARAMETERS,
            "responses": {"Error": {
                "description": "The request failed; the code says why.",
                "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Error"}}},
            }},
            "schemas": _schemas(),
        },
    }
