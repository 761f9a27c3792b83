"""Carrying out the IVR's media actions on a SIP call, one event back per action."""

from __future__ import annotations

import asyncio
import wave
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import structlog

from ivr.actions import (
    Action,
    DigitsCollected,
    Enqueue,
    Event,
    Gather,
    Hangup,
    Play,
    PromptFinished,
    QueueResult,
    Record,
    RecordingFinished,
    Transfer,
)
from ivr.dtmf import DtmfCollector
from santral.errors import SantralError
from santral.telephony.base import QueueStatus
from santral.telephony.sip import rtp
from santral.telephony.sip.legs import CallerGone, CallerLeg, LegState
from santral.telephony.sip.media import Playback, RtpLeg
from santral.telephony.twilio.hold import announcement

if TYPE_CHECKING:
    from santral.telephony.sip.connector import SipConnector

log = structlog.get_logger(__name__)

MAX_STEPS = 10_000
QUEUE_POLL_SECONDS = 1.0  # how often a waiting caller's queue status is read
T = TypeVar("T")


class _CallOver(Exception):
    """The IVR hung up or transferred the call; nothing more to report."""


class IvrRunner:
    """Runs one caller's IVR: performs each action and feeds its result to ``CallFlow``."""

    def __init__(self, connector: SipConnector) -> None:
        self.connector = connector
        self.calls = connector.calls

    async def run(self, call: CallerLeg) -> None:
        """Start the IVR, answer, and loop over actions until the call ends."""
        connector = self.connector
        try:
            actions = await self.guard(call, self.calls.start_call(call.info, connector))
            connector.answer(call)
            await self._loop(call, actions)
        except (CallerGone, _CallOver):
            pass
        except (SantralError, KeyError, ValueError) as error:
            connector.last_error = str(error)
            log.error("sip_call_failed", call_id=call.call_id, error=str(error))
            await connector.hangup(call.call_id)

    async def _loop(self, call: CallerLeg, actions: list[Action]) -> None:
        for _ in range(MAX_STEPS):
            event = await self._perform_all(call, actions)
            if event is None:
                log.warning("ivr_returned_no_media_action", call_id=call.call_id)
                await self.connector.hangup(call.call_id)
                return
            actions = await self.guard(call, self.calls.handle(call.call_id, event))
        log.error("ivr_step_limit", call_id=call.call_id, steps=MAX_STEPS)
        await self.connector.hangup(call.call_id)

    async def _perform_all(self, call: CallerLeg, actions: list[Action]) -> Event | None:
        for action in actions:
            event = await self._perform(call, action)
            if event is not None:
                return event
        return None

    async def _perform(self, call: CallerLeg, action: Action) -> Event | None:
        log.debug("ivr_action", call_id=call.call_id, action=action.kind)
        if isinstance(action, Gather):
            return await self.gather(call, action)
        if isinstance(action, Play):
            await self.play(call, action)
            return PromptFinished()
        if isinstance(action, Record):
            return await self.record(call, action)
        if isinstance(action, Enqueue):
            return await self.wait_in_queue(call, action)
        if isinstance(action, Hangup):
            await self.connector.hangup(call.call_id)
            raise _CallOver
        if isinstance(action, Transfer):
            await self.transfer(call, action)
            raise _CallOver
        return None  # PauseRecording, SetVariables, SurveyAnswer: nothing to do on the wire

    async def guard(self, call: CallerLeg, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable`` unless the caller hangs up first (then raise ``CallerGone``)."""
        task = asyncio.ensure_future(awaitable)
        hangup = asyncio.ensure_future(call.hung_up.wait())
        try:
            await asyncio.wait({task, hangup}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            hangup.cancel()
        if not task.done():
            task.cancel()
            raise CallerGone
        if call.state is LegState.ENDED:
            raise CallerGone
        return task.result()

    async def play(self, call: CallerLeg, action: Play) -> None:
        frames = await self.guard(call, self.connector.library.frames(action.prompts))
        playback = call.rtp.play(frames)
        while not playback.done.done():
            call.key_arrived.clear()
            key = asyncio.ensure_future(call.key_arrived.wait())
            try:
                await self.guard(call, _first_of(playback.done, key))
            finally:
                key.cancel()
            if call.keys and action.barge_in:
                call.rtp.stop_playback()

    async def gather(self, call: CallerLeg, action: Gather) -> DigitsCollected:
        """Play the prompts and collect keys by the ``Gather`` rules of ``ivr.dtmf``."""
        clock = self.connector.clock
        frames = await self.guard(call, self.connector.library.frames(action.prompts))
        collector = DtmfCollector(action, now=clock.now())
        playback = call.rtp.play(frames) if frames else None
        if playback is None:
            collector.prompt_finished(clock.now())
        try:
            for _ in range(MAX_STEPS):
                result = self._collect(call, collector, playback)
                if result is not None:
                    return result
                await self._wait_for_key(call, collector, playback)
        finally:
            call.rtp.stop_playback()
        return DigitsCollected(digits=collector.keys, reason="inter_digit_timeout")

    def _collect(
        self, call: CallerLeg, collector: DtmfCollector, playback: Playback | None
    ) -> DigitsCollected | None:
        """Feed pressed keys and the prompt's end to the collector; stop the prompt on barge-in."""
        now = self.connector.clock.now()
        while call.keys:
            result = collector.press(call.keys.popleft(), now)
            if not collector.prompt_playing:
                call.rtp.stop_playback()
            if result is not None:
                return result
        if collector.prompt_playing and (playback is None or playback.done.done()):
            collector.prompt_finished(now)
        return collector.expire(now)

    async def _wait_for_key(
        self, call: CallerLeg, collector: DtmfCollector, playback: Playback | None
    ) -> None:
        """Wait for a key, the end of the prompt, or the collector's deadline."""
        deadline = collector.deadline()
        timeout = None if deadline is None else max(0.0, deadline - self.connector.clock.now())
        call.key_arrived.clear()
        if call.keys:
            return
        key = asyncio.ensure_future(call.key_arrived.wait())
        waiting: list[asyncio.Future[Any]] = [key]
        if collector.prompt_playing and playback is not None:
            waiting.append(playback.done)
        try:
            await self.guard(call, _first_of(*waiting, timeout=timeout))
        finally:
            key.cancel()

    async def record(self, call: CallerLeg, action: Record) -> RecordingFinished:
        if action.prompts:
            await self.play(call, Play(prompts=action.prompts))
        frames: list[bytes] = []
        call.rtp.on_audio = frames.append
        call.keys.clear()
        reason = "max_length"
        try:
            call.key_arrived.clear()
            key = asyncio.ensure_future(call.key_arrived.wait())
            try:
                await self.guard(call, asyncio.wait({key}, timeout=action.max_length))
            finally:
                key.cancel()
            if call.keys and call.keys[-1] in action.finish_on_key:
                reason = "finish_key"
        finally:
            call.rtp.on_audio = None
        duration = len(frames) * rtp.FRAME_SECONDS
        await asyncio.to_thread(self._write_recording, action.name, b"".join(frames))
        return RecordingFinished(name=action.name, duration=duration, reason=reason)

    def _write_recording(self, name: str, pcm: bytes) -> None:
        folder = self.connector.recordings_dir
        folder.mkdir(parents=True, exist_ok=True)
        with wave.open(str(folder / f"{name}.wav"), "wb") as writer:
            writer.setnchannels(1)
            writer.setsampwidth(2)
            writer.setframerate(rtp.SAMPLE_RATE)
            writer.writeframes(pcm)

    async def wait_in_queue(self, call: CallerLeg, action: Enqueue) -> Event:
        """Play music on hold and announcements until the ACD gives the call back.

        Return the queue's result once its conversation with an agent ends, or
        ``QueueResult(outcome="left")`` when the caller presses the queue's exit key.
        """
        await self.start_music(call)
        result = asyncio.ensure_future(self.calls.wait_queue_result(call.call_id))
        waiting = QueueWait()
        try:
            for _ in range(MAX_STEPS):
                outcome = await self._queue_step(call, action, result, waiting)
                if outcome is not None:
                    return outcome
            return QueueResult(outcome="timeout")
        finally:
            result.cancel()
            call.rtp.stop_music()

    async def _queue_step(
        self,
        call: CallerLeg,
        action: Enqueue,
        result: asyncio.Future[QueueResult],
        waiting: QueueWait,
    ) -> Event | None:
        status = self.calls.queue_status(call.call_id)
        if status is not None and status.outcome is not None:
            return status.outcome
        if status is not None and call.agent is None:
            await self._announce(call, status, action.language, waiting)
        call.key_arrived.clear()
        key = asyncio.ensure_future(call.key_arrived.wait())
        try:
            await self.guard(call, _first_of(result, key, timeout=QUEUE_POLL_SECONDS))
        finally:
            key.cancel()
        if result.done():
            return result.result()
        return self._exit_key(call, status)

    def _exit_key(self, call: CallerLeg, status: QueueStatus | None) -> Event | None:
        pressed = "".join(call.keys)
        call.keys.clear()
        if status is None or not status.exit_key or call.agent is not None:
            return None
        if status.exit_key in pressed:
            log.info("queue_left_by_key", call_id=call.call_id, queue=status.queue)
            return QueueResult(outcome="left")
        return None

    async def _announce(
        self, call: CallerLeg, status: QueueStatus, language: str, waiting: QueueWait
    ) -> None:
        now = self.connector.clock.now()
        plan = announcement(
            status,
            language,
            now=now,
            announced_at=waiting.announced_at,
            periodic_index=waiting.periodic_index,
        )
        if plan.announced:
            waiting.announced_at = now
            waiting.periodic_index = plan.periodic_index
        if not plan.prompts:
            return
        call.rtp.stop_music()
        await self.play(call, Play(prompts=plan.prompts, barge_in=True))  # a key cuts it short
        if call.agent is None:
            await self.start_music(call)

    async def start_music(self, call: CallerLeg) -> None:
        path = self.connector.settings.music_on_hold
        if path is None or not path.exists():
            return
        frames = await self.guard(call, self.connector.library.file_frames(path))
        call.rtp.start_music(frames)

    async def transfer(self, call: CallerLeg, action: Transfer) -> None:
        """Connect the caller to ``action.target`` and wait until either side hangs up."""
        result, leg = await self.connector.dial(call, action.target, action.timeout)
        if leg is None:
            log.warning("sip_transfer_failed", call_id=call.call_id, result=result.value)
            await self.connector.hangup(call.call_id)
            return
        self.connector.bridge_transfer(call, leg)
        ended = asyncio.ensure_future(leg.ended.wait())
        try:
            await self.guard(call, ended)
        except CallerGone:
            return
        await self.connector.hangup(call.call_id)

    async def whisper(self, leg: RtpLeg, text: str) -> None:
        """Play ``text`` to the agent before the caller is bridged (at most 15 s)."""
        frames = await self.connector.library.text_frames(text, "en")
        self.connector.media.legs.add(leg)
        try:
            await asyncio.wait_for(asyncio.shield(leg.play(frames).done), 15.0)
        except TimeoutError:
            leg.stop_playback()


def _first_of(*futures: asyncio.Future[Any], timeout: float | None = None) -> Awaitable[object]:
    """Wait until the first of ``futures`` completes, or ``timeout`` seconds pass."""
    return asyncio.wait(set(futures), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)


@dataclass
class QueueWait:
    """When the waiting caller last heard an announcement, and the next periodic prompt."""

    announced_at: float = -1.0
    periodic_index: int = 0
