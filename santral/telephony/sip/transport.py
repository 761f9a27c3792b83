"""asyncio UDP endpoints for SIP signalling and RTP media."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

log = structlog.get_logger(__name__)

Address = tuple[str, int]


class DatagramEndpoint(asyncio.DatagramProtocol):
    """A bound UDP socket that hands every datagram to ``on_datagram``."""

    def __init__(self, on_datagram: Callable[[bytes, Address], None]) -> None:
        self._on_datagram = on_datagram
        self._transport: asyncio.DatagramTransport | None = None
        self.sent = 0
        self.received = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.received += 1
        self._on_datagram(data, (str(addr[0]), int(str(addr[1]))))

    def error_received(self, exc: Exception) -> None:
        log.warning("udp_error", error=str(exc))

    def send(self, data: bytes, destination: Address) -> None:
        """Send ``data`` to ``destination``; dropped silently once the endpoint is closed."""
        if self._transport is not None and not self._transport.is_closing():
            self._transport.sendto(data, destination)
            self.sent += 1

    @property
    def local_address(self) -> Address:
        if self._transport is None:
            raise RuntimeError("the UDP endpoint is not bound yet")
        host, port = self._transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def open_endpoint(
    address: Address, on_datagram: Callable[[bytes, Address], None]
) -> DatagramEndpoint:
    """Bind a UDP endpoint at ``address``; raise ``OSError`` if the port is taken."""
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_datagram_endpoint(
        lambda: DatagramEndpoint(on_datagram), local_addr=address
    )
    return protocol


class PortPool:
    """Even RTP ports in ``[low, high]`` handed out one per call leg (RFC 3550 section 11)."""

    def __init__(self, low: int, high: int) -> None:
        first = low + (low % 2)
        self._free = list(range(first, high, 2))
        self._used: set[int] = set()

    def acquire(self) -> int | None:
        if not self._free:
            return None
        port = self._free.pop(0)
        self._used.add(port)
        return port

    def release(self, port: int) -> None:
        if port in self._used:
            self._used.remove(port)
            self._free.append(port)

    @property
    def in_use(self) -> int:
        return len(self._used)
