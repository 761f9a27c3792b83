"""Screen pops: masking, CRM link templates and the signed CRM webhook.

The ACD builds the pop of an offer (``OfferCreated.pop``); CTI masks sensitive variables
once more, adds the queue's CRM link, and posts the pop to the queue's CRM webhook.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import re
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
import structlog

from cti.settings import CrmPopConfig, CtiSettings
from santral.clock import Clock, SystemClock
from santral.tasks import TaskSupervisor

log = structlog.get_logger(__name__)

MASK = "****"
MAX_PENDING_WEBHOOKS = 1000  # deliveries waiting or retrying; more are dropped and logged
MAX_BACKOFF = 60.0  # seconds, the cap of the doubling retry delay
SIGNATURE_HEADER = "X-Santral-Signature"
TIMESTAMP_HEADER = "X-Santral-Timestamp"
DELIVERY_HEADER = "X-Santral-Delivery"

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\}")


def mask_variables(variables: Mapping[str, Any], words: list[str]) -> dict[str, Any]:
    """Return ``variables`` with every value whose name contains one of ``words`` masked."""
    lowered = [word.lower() for word in words]
    return {
        name: MASK if any(word in name.lower() for word in lowered) else value
        for name, value in variables.items()
    }


def fill_template(template: str, fields: Mapping[str, Any]) -> str:
    """Fill ``{name}`` and ``{variables.name}`` placeholders with URL-encoded field values.

    A placeholder with no matching field, or one that names a list or dict, becomes empty.
    """

    def replace(match: re.Match[str]) -> str:
        value: Any = fields
        for part in match.group(1).split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        if value is None or isinstance(value, Mapping | list):
            return ""
        return quote(str(value), safe="")

    return _PLACEHOLDER.sub(replace, template)


def build_pop(pop: Mapping[str, Any], queue: str, settings: CtiSettings) -> dict[str, Any]:
    """Return the pop sent to clients: variables masked, ``crm_url`` added when configured."""
    result = dict(pop)
    variables = pop.get("variables")
    if isinstance(variables, Mapping):
        result["variables"] = mask_variables(variables, settings.masked_variables)
    crm = settings.crm_pop.get(queue)
    if crm is not None and crm.url_template:
        result["crm_url"] = fill_template(crm.url_template, result)
    return result


def sign_body(secret: bytes, timestamp: int, body: bytes) -> str:
    """Return the signature header value: HMAC-SHA256 over ``<timestamp>.<body>``, hex."""
    digest = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class WebhookSender:
    """Posts pops to CRM webhooks with retries, in tasks it owns and never awaits inline.

    A delivery is retried after a connection error, a timeout, a 429 or a 5xx response,
    up to ``webhook_attempts`` attempts with a doubling delay. Every attempt carries the
    same ``X-Santral-Delivery`` id so the CRM can drop duplicates.
    """

    def __init__(
        self,
        settings: CtiSettings,
        *,
        clock: Clock | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock or SystemClock()
        self._environ = os.environ if environ is None else environ
        self._tasks = TaskSupervisor("cti_webhooks")
        self._session: aiohttp.ClientSession | None = None

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def send(self, crm: CrmPopConfig, payload: dict[str, Any], *, offer_id: str) -> None:
        """Start delivering ``payload`` to the queue's CRM webhook and return at once."""
        secret = self._environ.get(crm.webhook_secret_env, "")
        if not secret:
            log.error("crm_webhook_secret_missing", env=crm.webhook_secret_env, offer_id=offer_id)
            return
        if len(self._tasks) >= MAX_PENDING_WEBHOOKS:
            log.error("crm_webhook_dropped", offer_id=offer_id, pending=len(self._tasks))
            return
        body = json.dumps(payload, separators=(",", ":"), default=str).encode()
        self._tasks.spawn(
            self._deliver(crm.webhook_url, secret.encode(), body, offer_id),
            name=f"crm_webhook_{offer_id}",
        )

    async def _deliver(self, url: str, secret: bytes, body: bytes, offer_id: str) -> None:
        delivery = uuid.uuid4().hex
        attempts = self._settings.webhook_attempts
        for attempt in range(1, attempts + 1):
            retry = await self._post(url, secret, body, delivery)
            bound = log.bind(offer_id=offer_id, delivery=delivery, attempt=attempt)
            if retry is None:
                bound.info("crm_webhook_delivered")
                return
            if attempt == attempts:
                bound.error("crm_webhook_failed", error=retry)
                return
            delay = min(MAX_BACKOFF, self._settings.webhook_backoff * 2 ** (attempt - 1))
            bound.warning("crm_webhook_retry", error=retry, delay=delay)
            await asyncio.sleep(delay)

    async def _post(self, url: str, secret: bytes, body: bytes, delivery: str) -> str | None:
        """Post once; return None on success, or why a retry is due."""
        timestamp = int(self._clock.now())
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign_body(secret, timestamp, body),
            DELIVERY_HEADER: delivery,
        }
        timeout = aiohttp.ClientTimeout(total=self._settings.webhook_timeout)
        try:
            async with self._client().post(url, data=body, headers=headers,
                                           timeout=timeout) as response:
                if response.status < 300:
                    return None
                if response.status == 429 or response.status >= 500:
                    return f"HTTP {response.status}"
                log.error("crm_webhook_rejected", status=response.status, delivery=delivery)
                return None
        except (aiohttp.ClientError, TimeoutError) as error:
            return f"{type(error).__name__}: {error}"

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        """Cancel deliveries still retrying and close the HTTP client."""
        await self._tasks.close()
        if self._session is not None:
            await self._session.close()
            self._session = None
