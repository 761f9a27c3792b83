"""RTP media of call legs, paced by one shared 20 ms clock on the asyncio loop.

Every leg sends one packet per tick: audio relayed from the bridged leg, else the prompt
being played, else music on hold, else silence. Prompts stop at once on ``stop`` (barge-in),
and their end is a future the caller of ``play`` awaits.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import deque
from collections.abc import Callable, Sequence

import structlog

from santral.telephony.sip import rtp
from santral.telephony.sip.errors import SipParseError
from santral.telephony.sip.telephone_events import KeyPressDetector
from santral.telephony.sip.transport import Address, DatagramEndpoint

log = structlog.get_logger(__name__)

RELAY_BUFFER_FRAMES = 10


class Playback:
    """Frames of one prompt sequence being sent; ``done`` resolves when they end or stop."""

    def __init__(self, frames: Sequence[bytes], *, loop_forever: bool = False) -> None:
        self._frames = frames
        self._index = 0
        self._loop_forever = loop_forever
        self.done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def next_frame(self) -> bytes | None:
        if self.done.done():
            return None
        if self._index >= len(self._frames):
            if not self._loop_forever or not self._frames:
                self.done.set_result(True)
                return None
            self._index = 0
        frame = self._frames[self._index]
        self._index += 1
        return frame

    def stop(self) -> None:
        """Stop sending; ``done`` resolves to False (interrupted)."""
        if not self.done.done():
            self.done.set_result(False)


class RtpLeg:
    """The RTP stream of one call leg: one local port, one remote address, one codec."""

    def __init__(
        self,
        endpoint: DatagramEndpoint,
        *,
        remote: Address,
        codec: tuple[int, str],
        telephone_event_type: int | None,
    ) -> None:
        self.endpoint = endpoint
        self.remote = remote
        self.codec_type, self.codec = codec
        self.detector = KeyPressDetector(telephone_event_type) if telephone_event_type else None
        self.on_key: Callable[[str], None] | None = None
        self.on_audio: Callable[[bytes], None] | None = None
        self.sending = True
        self.playback: Playback | None = None
        self.music: Playback | None = None
        self.relay: deque[bytes] | None = None
        self._sequence = random.randrange(0x10000)
        self._timestamp = random.randrange(0x100000000)
        self._ssrc = random.randrange(1, 0x100000000)
        self.packets_in = 0
        self.invalid_packets = 0

    def update_remote(
        self, remote: Address, codec: tuple[int, str], event_type: int | None
    ) -> None:
        self.remote = remote
        self.codec_type, self.codec = codec
        if event_type is not None and (
            self.detector is None or self.detector.payload_type != event_type
        ):
            self.detector = KeyPressDetector(event_type)

    def play(self, frames: Sequence[bytes]) -> Playback:
        """Start sending ``frames``, replacing any prompt still playing."""
        if self.playback is not None:
            self.playback.stop()
        self.playback = Playback(frames)
        return self.playback

    def stop_playback(self) -> None:
        if self.playback is not None:
            self.playback.stop()
            self.playback = None

    def start_music(self, frames: Sequence[bytes]) -> None:
        self.music = Playback(frames, loop_forever=True)

    def stop_music(self) -> None:
        if self.music is not None:
            self.music.stop()
            self.music = None

    def tick(self) -> None:
        """Send the next 20 ms packet."""
        frame = self._next_frame()
        if not self.sending:
            return
        packet = rtp.RtpPacket(
            payload_type=self.codec_type,
            sequence=self._sequence,
            timestamp=self._timestamp,
            ssrc=self._ssrc,
            payload=rtp.encode(self.codec, frame),
        )
        self.endpoint.send(packet.serialize(), self.remote)
        self._sequence = (self._sequence + 1) & 0xFFFF
        self._timestamp = (self._timestamp + rtp.FRAME_SAMPLES) & 0xFFFFFFFF

    def _next_frame(self) -> bytes:
        if self.relay is not None:
            return self.relay.popleft() if self.relay else rtp.SILENCE_FRAME
        for source in (self.playback, self.music):
            if source is not None:
                frame = source.next_frame()
                if frame is not None:
                    return frame
        return rtp.SILENCE_FRAME

    def datagram_received(self, data: bytes, source: Address) -> None:
        try:
            packet = rtp.parse_rtp(data)
        except SipParseError:
            self.invalid_packets += 1
            return
        self.packets_in += 1
        if self.detector is not None and packet.payload_type == self.detector.payload_type:
            self._key_packet(packet)
        elif packet.payload_type == self.codec_type and self.on_audio is not None:
            self.on_audio(rtp.decode(self.codec, packet.payload))

    def _key_packet(self, packet: rtp.RtpPacket) -> None:
        try:
            key = self.detector.feed(packet) if self.detector else None
        except SipParseError:
            self.invalid_packets += 1
            return
        if key is not None and self.on_key is not None:
            self.on_key(key)

    def close(self) -> None:
        self.stop_playback()
        self.stop_music()
        self.endpoint.close()


def bridge(first: RtpLeg, second: RtpLeg) -> None:
    """Relay audio both ways between two legs through small buffers."""
    for source, target in ((first, second), (second, first)):
        buffer: deque[bytes] = deque(maxlen=RELAY_BUFFER_FRAMES)
        target.relay = buffer
        source.on_audio = buffer.append


def unbridge(*legs: RtpLeg) -> None:
    for leg in legs:
        leg.relay = None
        leg.on_audio = None


class MediaClock:
    """One task that ticks every leg every 20 ms against absolute deadlines.

    A tick that starts more than 5 ms late is counted in ``late_ticks``, and the worst
    lateness is kept in ``max_lateness``. When the clock falls more than 200 ms behind, it
    restarts from now instead of sending a burst of packets.
    """

    def __init__(self) -> None:
        self.legs: set[RtpLeg] = set()
        self.ticks = 0
        self.late_ticks = 0
        self.max_lateness = 0.0
        self.lateness: deque[float] = deque(maxlen=50_000)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="sip-media-clock")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while True:
            self._measure(loop.time() - deadline)
            for leg in tuple(self.legs):
                leg.tick()
            deadline += rtp.FRAME_SECONDS
            if loop.time() - deadline > 0.2:
                deadline = loop.time()
            await asyncio.sleep(max(0.0, deadline - loop.time()))

    def _measure(self, lateness: float) -> None:
        self.ticks += 1
        if self.legs:
            self.lateness.append(lateness)
        if lateness > 0.005:
            self.late_ticks += 1
        self.max_lateness = max(self.max_lateness, lateness)
