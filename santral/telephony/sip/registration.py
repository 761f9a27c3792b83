"""REGISTER transactions for every extension, refreshed before they expire.

pyVoIP's ``register()`` reads the socket synchronously for up to 30 s and races its own
receive thread. Here the asyncio transport sends each REGISTER, and its response is
matched by Call-ID within the timeout from the settings.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import structlog

from santral.errors import ConnectorError
from santral.telephony.sip.pyvoip_fixes import SantralSIPMessage, parse_message

if TYPE_CHECKING:
    from santral.telephony.sip.connector import SipConnector

log = structlog.get_logger(__name__)

RETRY_DELAY = 5.0


class Registrar:
    """Registers the connector's extensions at the configured server."""

    def __init__(self, connector: SipConnector) -> None:
        self.connector = connector
        self.registered: set[str] = set()
        self._pending: dict[str, asyncio.Future[SantralSIPMessage]] = {}
        self._refreshers: list[asyncio.Task[None]] = []

    def all_registered(self) -> bool:
        if not self.connector.settings.registration:
            return True
        return self.registered == set(self.connector.clients)

    async def register_all(self) -> None:
        """Register every extension; raise ``ConnectorError`` naming the first that failed."""
        await asyncio.gather(*(self.register(extension) for extension in self.connector.clients))
        loop = asyncio.get_running_loop()
        for extension in self.connector.clients:
            self._refreshers.append(loop.create_task(self._refresh(extension)))

    async def register(self, extension: str, *, expires: int | None = None) -> None:
        client = self.connector.clients[extension]
        client.default_expires = (
            self.connector.settings.register_expires if expires is None else expires
        )
        remove = expires == 0
        response = await self._transact(client.gen_first_response(deregister=remove))
        if response.status_code == 401 and client.password:
            response = await self._transact(client.gen_register(response, deregister=remove))
        if response.status_code != 200:
            self.registered.discard(extension)
            raise ConnectorError(
                f"registration of {extension!r} at {client.server}:{client.port} failed with "
                f"{response.status_code} {response.reason}; check the extension and its password"
            )
        if remove:
            self.registered.discard(extension)
        else:
            self.registered.add(extension)
            log.info("sip_registered", extension=extension)

    async def _transact(self, text: str) -> SantralSIPMessage:
        call_id = parse_message(text.encode()).call_id
        future: asyncio.Future[SantralSIPMessage] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        self.connector.send_request(text)
        timeout = self.connector.settings.register_timeout
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise ConnectorError(
                f"no response to REGISTER from {self.connector.settings.server}:"
                f"{self.connector.settings.port} within {timeout} s; is the registrar running?"
            ) from None
        finally:
            self._pending.pop(call_id, None)

    def response_received(self, response: SantralSIPMessage) -> None:
        future = self._pending.get(response.call_id)
        if future is not None and not future.done() and response.status_code >= 200:
            future.set_result(response)

    async def _refresh(self, extension: str) -> None:
        """Re-register at 80 % of the expiry time until the connector stops."""
        delay = self.connector.settings.register_expires * 0.8
        while True:
            await asyncio.sleep(delay)
            try:
                await self.register(extension)
                delay = self.connector.settings.register_expires * 0.8
            except ConnectorError as error:
                self.connector.last_error = str(error)
                log.warning("sip_register_refresh_failed", extension=extension, error=str(error))
                delay = RETRY_DELAY

    async def unregister_all(self) -> None:
        for task in self._refreshers:
            task.cancel()
        self._refreshers.clear()
        for extension in sorted(self.registered):
            try:
                await self.register(extension, expires=0)
            except ConnectorError as error:
                log.warning("sip_unregister_failed", extension=extension, error=str(error))
