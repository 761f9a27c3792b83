"""The aiohttp layer of the Twilio connector: routes, request reading, media files.

Webhooks are POST (or GET when a number is configured that way) under the path prefix,
``/twilio`` by default. ``voice`` and ``status`` are the URLs to set on the Twilio number,
and the others are named in the TwiML santral returns. Prompt WAVs are served at
``prompts/{language}/{name}.wav`` and hold-music segments at ``music/{part}.wav``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from aiohttp import web

from santral.telephony.twilio.connector import TwilioConnector
from santral.telephony.twilio.form import FORM_CONTENT_TYPE, MAX_BODY_BYTES
from santral.telephony.twilio.webhook import Reply, Webhook

WEBHOOKS = (
    "voice",
    "status",
    "event",
    "gather",
    "record",
    "continue",
    "queue",
    "queue-key",
    "transfer",
    "agent-join",
    "agent-status",
    "agent-ended",
    "consult-join",
    "consult-status",
    "hold-music",
)
MEDIA_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # no dots: a language of ".." must not climb

RouteHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def setup_routes(app: web.Application, connector: TwilioConnector) -> None:
    """Add the Twilio webhook and media routes of ``connector`` to ``app``."""
    prefix = connector.settings.path_prefix
    for kind in WEBHOOKS:
        handler = _webhook_handler(connector, kind)
        app.router.add_route("POST", f"{prefix}/{kind}", handler)
        app.router.add_route("GET", f"{prefix}/{kind}", handler)
    app.router.add_get(f"{prefix}/prompts/{{language}}/{{name}}.wav", _prompt_handler(connector))
    app.router.add_get(f"{prefix}/music/{{part}}.wav", _music_handler(connector))


def webhook_of(request: web.Request, kind: str, body: bytes) -> Webhook:
    """Collect what the connector needs from an aiohttp request."""
    return Webhook(
        kind=kind,
        method=request.method,
        raw_target=request.raw_path,
        query={name: request.query[name] for name in request.query},
        body=body,
        signature=request.headers.get("X-Twilio-Signature", ""),
        peer_address=request.remote or "",
        forwarded_proto=request.headers.get("X-Forwarded-Proto", ""),
        forwarded_host=request.headers.get("X-Forwarded-Host", ""),
    )


def _webhook_handler(connector: TwilioConnector, kind: str) -> RouteHandler:
    async def handle(request: web.Request) -> web.StreamResponse:
        body = b""
        if request.method == "POST":
            if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
                return web.Response(status=413, text="webhook body too large")
            body = await request.content.read(MAX_BODY_BYTES + 1)
            if body and request.content_type != FORM_CONTENT_TYPE:
                return web.Response(status=415, text=f"expected {FORM_CONTENT_TYPE}")
        elif request.query_string:
            body = request.query_string.encode("ascii", "replace")
        return _response(await connector.handle_webhook(webhook_of(request, kind, body)))

    return handle


def _prompt_handler(connector: TwilioConnector) -> RouteHandler:
    async def handle(request: web.Request) -> web.StreamResponse:
        refusal = connector.check_media_request(webhook_of(request, "prompt", b""))
        if refusal is not None:
            return _response(refusal)
        language, name = request.match_info["language"], request.match_info["name"]
        if not (MEDIA_NAME.fullmatch(language) and MEDIA_NAME.fullmatch(name)):
            return web.Response(status=404, text="no such prompt")
        path = connector.prompt_path(language, name)
        if path is None:
            return web.Response(status=404, text=f"prompt {language}/{name} not found")
        return web.FileResponse(path, headers={"Content-Type": "audio/wav"})

    return handle


def _music_handler(connector: TwilioConnector) -> RouteHandler:
    async def handle(request: web.Request) -> web.StreamResponse:
        refusal = connector.check_media_request(webhook_of(request, "music", b""))
        if refusal is not None:
            return _response(refusal)
        part = request.match_info["part"]
        segment = connector.music_segment(int(part)) if part.isdigit() else None
        if segment is None:
            return web.Response(status=404, text="no hold music segment")
        return web.Response(body=segment, content_type="audio/wav")

    return handle


def _response(reply: Reply) -> web.Response:
    if isinstance(reply.body, bytes):
        return web.Response(status=reply.status, body=reply.body, content_type=reply.content_type)
    return web.Response(status=reply.status, text=reply.body, content_type=reply.content_type)
