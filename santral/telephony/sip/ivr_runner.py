"""Carrying out the IVR's media actions on a SIP call, one event back per action."""

from __future__ import annotations

import asyncio
import wave
from collections.abc import Awaitable
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
    Record,
    RecordingFinished,
    Transfer,
)
from santral.errors import SantralError
from santral.telephony.sip import rtp
from santral.telephony.sip.gather import DigitCollector
from santral.telephony.sip.legs import CallerGone, CallerLeg, LegState
from santral.telephony.sip.media import RtpLeg

if TYPE_CHECKING:
    from santral.telephony.sip.connector import SipConnector

log = structlog.get_logger(__name__)

MAX_STEPS = 10_000
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
            return await self.wait_in_queue(call)
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
        collector = DigitCollector(action)
        if action.prompts:
            await self._gather_prompts(call, action)
        now = self.connector.clock.now()
        collector.prompts_finished(now)
        for _ in range(MAX_STEPS):
            while call.keys:
                result = collector.key(call.keys.popleft(), self.connector.clock.now())
                if result is not None:
                    return result
            deadline = collector.deadline if collector.deadline is not None else now
            result = await self._wait_key(call, collector, deadline)
            if result is not None:
                return result
        return DigitsCollected(digits=collector.keys, reason="inter_digit_timeout")

    async def _gather_prompts(self, call: CallerLeg, action: Gather) -> None:
        frames = await self.guard(call, self.connector.library.frames(action.prompts))
        if not action.barge_in:
            await self.guard(call, call.rtp.play(frames).done)
            call.keys.clear()
            return
        if call.keys:
            return  # keys typed ahead interrupt the prompt before it starts
        playback = call.rtp.play(frames)
        while not playback.done.done() and not call.keys:
            call.key_arrived.clear()
            key = asyncio.ensure_future(call.key_arrived.wait())
            try:
                await self.guard(call, _first_of(playback.done, key))
            finally:
                key.cancel()
        call.rtp.stop_playback()

    async def _wait_key(
        self, call: CallerLeg, collector: DigitCollector, deadline: float
    ) -> DigitsCollected | None:
        remaining = deadline - self.connector.clock.now()
        call.key_arrived.clear()
        if remaining > 0 and not call.keys:
            key = asyncio.ensure_future(call.key_arrived.wait())
            try:
                await self.guard(call, asyncio.wait({key}, timeout=remaining))
            finally:
                key.cancel()
        if call.keys:
            return None
        return collector.expire(max(self.connector.clock.now(), deadline))

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

    async def wait_in_queue(self, call: CallerLeg) -> Event:
        """Play music on hold until the ACD gives the call back or its conversation ends."""
        await self.start_music(call)
        try:
            return await self.guard(call, self.calls.wait_queue_result(call.call_id))
        finally:
            call.rtp.stop_music()

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


def _first_of(*futures: asyncio.Future[Any]) -> Awaitable[object]:
    """Wait until the first of ``futures`` completes."""
    return asyncio.wait(set(futures), return_when=asyncio.FIRST_COMPLETED)
