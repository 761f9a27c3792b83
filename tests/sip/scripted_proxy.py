"""A scripted SIP proxy for tests: a UDP socket that sends recorded messages to santral."""

from __future__ import annotations

import asyncio

from santral.telephony.sip.pyvoip_fixes import SantralSIPMessage, parse_message
from santral.telephony.sip.transport import DatagramEndpoint, open_endpoint

RECORDED_PROXY = b"127.0.0.1:52536"


class ScriptedProxy:
    """Stands where Kamailio would: santral sends every request and response here."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[SantralSIPMessage] = asyncio.Queue()
        self.endpoint: DatagramEndpoint | None = None

    async def start(self) -> int:
        self.endpoint = await open_endpoint(("127.0.0.1", 0), self._datagram)
        return self.endpoint.local_address[1]

    def _datagram(self, data: bytes, source: tuple[str, int]) -> None:
        self.received.put_nowait(parse_message(data))

    def send(self, data: bytes, port: int) -> None:
        """Send a recorded message, with the recorded proxy's address replaced by this one."""
        assert self.endpoint is not None
        own = f"127.0.0.1:{self.endpoint.local_address[1]}".encode()
        self.endpoint.send(data.replace(RECORDED_PROXY, own), ("127.0.0.1", port))

    async def next(self, limit: float = 5.0) -> SantralSIPMessage:
        return await asyncio.wait_for(self.received.get(), limit)

    async def response(self, code: int, limit: float = 5.0) -> SantralSIPMessage:
        """Skip messages until a response with status ``code`` arrives (at most 20)."""
        for _ in range(20):
            message = await self.next(limit)
            if message.status_code == code:
                return message
        raise AssertionError(f"no {code} response among 20 messages")

    def close(self) -> None:
        if self.endpoint is not None:
            self.endpoint.close()
