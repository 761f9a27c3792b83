"""The CTI REST API under ``/api/``: login, views and agent actions.

Every route but login and the two schema documents requires ``Authorization: Bearer
<token>``. Errors are ``{"error": {"code": ..., "message": ...}}`` with the HTTP status of
the code (401 unauthorized, 403 forbidden, 404 not_found, 409 invalid_state, 429 locked).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol, TypeVar, cast

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cti.auth import Authenticator, AuthError, Principal
from cti.hub import Hub
from cti.ports import DESK_ERROR_STATUS, AgentDesk, DeskError
from cti.ws import CLOSE_UNAUTHORIZED

log = structlog.get_logger(__name__)

AUTH_ERROR_STATUS = {"unauthorized": 401, "forbidden": 403, "locked": 429}
MAX_BODY = 64 * 1024  # bytes; the largest body is a chat or email reply

Handler = Callable[[web.Request, Principal], Awaitable[Any]]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LoginBody(_Body):
    user: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1000)


class StatusBody(_Body):
    status: Literal["logged_out", "available", "not_ready"]
    reason_code: str = Field(default="", max_length=100)


class HoldBody(_Body):
    on_hold: bool


class TransferBody(_Body):
    target_kind: Literal["queue", "agent", "number"]
    target: str = Field(min_length=1, max_length=200)
    consult: bool = False


class ConsultBody(_Body):
    target_kind: Literal["queue", "agent", "number"]
    target: str = Field(min_length=1, max_length=200)


class WrapupEndBody(_Body):
    disposition: str = Field(min_length=1, max_length=100)
    notes: str = Field(default="", max_length=4000)


class WrapupExtendBody(_Body):
    seconds: float = Field(gt=0, le=3600)


class MessageBody(_Body):
    text: str = Field(min_length=1, max_length=MAX_BODY // 2)


BodyT = TypeVar("BodyT", bound=_Body)
CONSULT_OPERATIONS = ("consult", "complete_consult", "cancel_consult")


class ConsultDesk(AgentDesk, Protocol):
    """An ``AgentDesk`` that can consult before a transfer, as ``AcdService`` does.

    ``consult`` returns once the consultation is requested; ``ConsultChanged`` events
    report its progress. Each method raises ``DeskError`` like the other actions.
    """

    async def consult(
        self, agent_id: str, interaction_id: str, target_kind: str, target: str
    ) -> None: ...

    async def complete_consult(self, agent_id: str, interaction_id: str) -> None: ...

    async def cancel_consult(self, agent_id: str, interaction_id: str) -> None: ...


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


HTTP_ERROR_CODES = {404: "not_found", 405: "invalid", 401: "unauthorized", 403: "forbidden"}


@web.middleware
async def json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Answer routing errors under ``/api/`` (unknown path, wrong method) in the JSON format."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        if not request.path.startswith("/api/") or error.status not in HTTP_ERROR_CODES:
            raise
        message = f"{error.reason}: {request.method} {request.path}"
        return error_response(error.status, HTTP_ERROR_CODES[error.status], message)


async def read_body(request: web.Request, model: type[BodyT]) -> BodyT:
    """Parse the JSON body into ``model``; raise ``web.HTTPBadRequest`` saying what is wrong."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise _bad_request(f"body larger than {MAX_BODY} bytes")
    try:
        raw = await request.json() if request.can_read_body else {}
        return model.model_validate(raw)
    except json.JSONDecodeError as error:
        raise _bad_request(f"body is not valid JSON: {error}") from error
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or 'body'}: {item['msg']}"
            for item in error.errors()
        )
        raise _bad_request(f"invalid request body: {problems}") from error


def _bad_request(message: str) -> web.HTTPBadRequest:
    body = json.dumps({"error": {"code": "invalid", "message": message}})
    return web.HTTPBadRequest(text=body, content_type="application/json")


class RestApi:
    """The REST handlers; ``routes()`` lists them for ``app.router.add_routes``."""

    def __init__(self, desk: AgentDesk, hub: Hub, auth: Authenticator) -> None:
        self._desk = desk
        self._hub = hub
        self._auth = auth

    def routes(self) -> list[web.RouteDef]:
        agent = "/api/agents/{agent_id}"
        interaction = agent + "/interactions/{interaction_id}"
        return [
            web.post("/api/login", self.login),
            web.post("/api/logout", self._guard(self.logout)),
            web.get("/api/me", self._guard(self.me)),
            web.get("/api/codes", self._guard(self.codes)),
            web.get("/api/agents", self._guard(self.agents)),
            web.get("/api/queues", self._guard(self.queues)),
            web.get(agent, self._guard(self.agent)),
            web.post(agent + "/status", self._guard(self.set_status)),
            web.post(agent + "/offers/{offer_id}/accept", self._guard(self.accept)),
            web.post(agent + "/offers/{offer_id}/reject", self._guard(self.reject)),
            web.post(interaction + "/hangup", self._guard(self.hangup)),
            web.post(interaction + "/hold", self._guard(self.hold)),
            web.post(interaction + "/transfer", self._guard(self.transfer)),
            web.post(interaction + "/consult", self._guard(self.consult)),
            web.post(interaction + "/consult/complete", self._guard(self.complete_consult)),
            web.post(interaction + "/consult/cancel", self._guard(self.cancel_consult)),
            web.post(interaction + "/messages", self._guard(self.send_message)),
            web.post(agent + "/wrapup/end", self._guard(self.end_wrapup)),
            web.post(agent + "/wrapup/extend", self._guard(self.extend_wrapup)),
        ]

    def _guard(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """Wrap ``handler`` with authentication and the mapping of errors to responses."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            try:
                principal = self._auth.authenticate_header(request.headers.get("Authorization"))
                result = await handler(request, principal)
            except AuthError as error:
                return error_response(AUTH_ERROR_STATUS[error.code], error.code, str(error))
            except DeskError as error:
                log.info("cti_action_failed", path=request.path, code=error.code, error=str(error))
                return error_response(DESK_ERROR_STATUS[error.code], error.code, str(error))
            if isinstance(result, web.StreamResponse):
                return result
            return web.json_response(result)

        return guarded

    async def login(self, request: web.Request) -> web.StreamResponse:
        body = await read_body(request, LoginBody)
        try:
            token, principal = await self._auth.login(body.user, body.password)
        except AuthError as error:
            return error_response(AUTH_ERROR_STATUS[error.code], error.code, str(error))
        return web.json_response({"token": token, "user": principal.to_dict()})

    async def logout(self, request: web.Request, principal: Principal) -> dict[str, Any]:
        _, _, token = (request.headers.get("Authorization") or "").partition(" ")
        self._auth.logout(token.strip())
        closed = await self._hub.close_session(token.strip(), CLOSE_UNAUTHORIZED)
        log.info("cti_logout", user_id=principal.user_id, websockets_closed=closed)
        return {"ok": True}

    async def me(self, request: web.Request, principal: Principal) -> dict[str, Any]:
        return {"user": principal.to_dict()}

    async def codes(self, request: web.Request, principal: Principal) -> dict[str, Any]:
        return {"reason_codes": self._desk.reason_codes(),
                "disposition_codes": self._desk.disposition_codes()}

    async def agents(self, request: web.Request, principal: Principal) -> dict[str, Any]:
        principal.check_supervisor()
        return {"agents": self._hub.agent_views(), "seq": self._hub.last_seq}

    async def queues(self, request: web.Request, principal: Principal) -> dict[str, Any]:
        principal.check_supervisor()
        return {"queues": self._desk.queues(), "seq": self._hub.last_seq}

    async def agent(self, request: web.Request, principal: Principal) -> dict[str, Any]:
        agent_id = request.match_info["agent_id"]
        principal.check_can_view(agent_id)
        return {"agent": self._hub.agent_view(agent_id), "seq": self._hub.last_seq}

    async def set_status(self, request: web.Request, principal: Principal) -> dict[str, Any]:
        agent_id = request.match_info["agent_id"]
        principal.check_can_set_status(agent_id)
        body = await read_body(request, StatusBody)
        await self._desk.set_status(agent_id, body.status, body.reason_code)
        log.info("cti_status_set", user_id=principal.user_id, agent_id=agent_id,
                 status=body.status, reason=body.reason_code)
        return {"ok": True}

    async def accept(self, request: web.Request, principal: Principal) -> dict[str, Any]:
        agent_id = self._acting_agent(request, principal)
        await self._desk.accept(agent_id, request.match_info["offer_id"])
        return {"ok": True}

    async def reject(self, request: web.Request, principal: Principal) -> dict[str, Any]:
        agent_id = self._acting_agent(request, principal)
        await self._desk.reject(agent_id, request.match_info["offer_id"])
        return {"ok": True}

    async def hangup(self, request: web.Request, principal: Principal) -> dict[str, Any]:
        agent_id = self._acting_agent(request, principal)
        await self._desk.hangup(agent_id, request.match_info["interaction_id"])
        return {"ok": True}

    async def hold(self, request: web.Request, principal: Principal) -> dict[str, Any]:
        agent_id = self._acting_agent(request, principal)
        body = await read_body(request, HoldBody)
        await self._desk.hold(agent_id, request.match_info["interaction_id"], body.on_hold)
        return {"ok": True}

    async def transfer(self, request: web.Request, principal: Principal) -> dict[str, Any]:
        agent_id = self._acting_agent(request, principal)
        body = await read_body(request, TransferBody)
        await self._desk.transfer(agent_id, request.match_info["interaction_id"],
                                  body.target_kind, body.target, body.consult)
        return {"ok": True}

    async def consult(self, request: web.Request, principal: Principal) -> dict[str, Any]:
        agent_id = self._acting_agent(request, principal)
        body = await read_body(request, ConsultBody)
        await self._consult_desk().consult(agent_id, request.match_info["interaction_id"],
                                           body.target_kind, body.target)
        log.info("cti_consult_requested", user_id=principal.user_id, agent_id=agent_id,
                 target_kind=body.target_kind)
        return {"ok": True}

    async def complete_consult(self, request: web.Request, principal: Principal
                               ) -> dict[str, Any]:
        agent_id = self._acting_agent(request, principal)
        await self._consult_desk().complete_consult(agent_id, request.match_info["interaction_id"])
        return {"ok": True}

    async def cancel_consult(self, request: web.Request, principal: Principal) -> dict[str, Any]:
        agent_id = self._acting_agent(request, principal)
        await self._consult_desk().cancel_consult(agent_id, request.match_info["interaction_id"])
        return {"ok": True}

    def _consult_desk(self) -> ConsultDesk:
        if not all(callable(getattr(self._desk, name, None)) for name in CONSULT_OPERATIONS):
            raise DeskError("this desk cannot consult before a transfer; use a blind transfer",
                            "not_supported")
        return cast(ConsultDesk, self._desk)

    async def send_message(self, request: web.Request, principal: Principal) -> dict[str, Any]:
        agent_id = self._acting_agent(request, principal)
        body = await read_body(request, MessageBody)
        await self._desk.send_message(agent_id, request.match_info["interaction_id"], body.text)
        return {"ok": True}

    async def end_wrapup(self, request: web.Request, principal: Principal) -> dict[str, Any]:
        agent_id = self._acting_agent(request, principal)
        body = await read_body(request, WrapupEndBody)
        await self._desk.end_wrapup(agent_id, body.disposition, body.notes)
        return {"ok": True}

    async def extend_wrapup(self, request: web.Request, principal: Principal) -> dict[str, Any]:
        agent_id = self._acting_agent(request, principal)
        body = await read_body(request, WrapupExtendBody)
        await self._desk.extend_wrapup(agent_id, body.seconds)
        return {"ok": True}

    @staticmethod
    def _acting_agent(request: web.Request, principal: Principal) -> str:
        agent_id = request.match_info["agent_id"]
        principal.check_can_act(agent_id)
        return agent_id
