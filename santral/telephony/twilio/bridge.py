"""Agent legs of the Twilio connector: ring, bridge through a conference, hold, consult.

An agent leg is a call placed with the Calls API while the caller stays in the queue's
hold loop. When the agent answers, the leg's TwiML joins the call's conference, and the
caller's call is updated through the REST API to join it too. Hold, consultation and an
agent's hang-up act on the conference's participants (see ``conference.py`` for who ends
the conference).

Each leg's status callbacks carry the caller's CallSid and the attempt id in their URL.
Only the first result of an attempt counts, so duplicated, retried or late callbacks
change nothing. The result is saved with the caller's session, so the engine process
that placed the leg learns it even when another process received the callback.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import structlog
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from ivr.actions import Action, QueueResult
from santral.errors import ConnectorError
from santral.telephony.base import AgentEndpoint, AgentLegResult, CallFlow
from santral.telephony.twilio import form as params
from santral.telephony.twilio.conference import (
    LEG_EVENTS,
    call_address,
    caller_conference_xml,
    conference_name,
    hold_music_xml,
    leg_conference_xml,
    ring_seconds,
)
from santral.telephony.twilio.session import CallSession, CallState
from santral.telephony.twilio.settings import TwilioSettings
from santral.telephony.twilio.webhook import Reply, Webhook, hangup_xml

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from santral.telephony.twilio.hold import HoldMusic
    from santral.telephony.twilio.twiml import Renderer, Urls

log = structlog.get_logger(__name__)

LEG_GRACE_SECONDS = 10.0
# An agent leg that ends before the caller joined the conference leaves the caller alone
# in a new one. If the caller's Dial action has not come this long after the agent leg's
# end, the caller is redirected to it.
AGENT_GONE_GRACE_SECONDS = 2.0
# How often a ringing leg also checks the store, where another engine process that
# received the leg's callbacks records the result.
LEG_POLL_SECONDS = 0.5
# The final status of a leg that was never answered, as an attempt's result. A leg that
# completes without an answer seen first ended before it could be bridged.
LEG_MISSES = {
    "busy": AgentLegResult.BUSY,
    "no-answer": AgentLegResult.NO_ANSWER,
    "failed": AgentLegResult.FAILED,
    "canceled": AgentLegResult.NO_ANSWER,
    "completed": AgentLegResult.FAILED,
}
StoredResult = Callable[[], Awaitable[AgentLegResult | None]]


class LegFuture(asyncio.Future[AgentLegResult]):
    """A future for one agent or consult leg that remembers the caller's CallSid."""

    call_sid: str = ""

    @classmethod
    def create(cls, call_sid: str) -> LegFuture:
        future = cls(loop=asyncio.get_running_loop())
        future.call_sid = call_sid
        return future


class AgentBridge:
    """The ``CallControl``, ``AgentLegControl`` and ``ConsultControl`` side of the connector.

    ``TwilioConnector`` inherits it; the attributes below are the connector's.
    """

    settings: TwilioSettings
    _calls: CallFlow
    _legs: dict[str, LegFuture]
    _music: HoldMusic | None
    _last_error: str
    _new_id: Callable[[], str]

    if TYPE_CHECKING:

        @property
        def urls(self) -> Urls: ...

        def _lock(self, call_sid: str) -> asyncio.Lock: ...

        async def _load(self, call_sid: str) -> CallSession | None: ...

        async def _save(self, session: CallSession) -> None: ...

        def _rest(self) -> Client: ...

        def _running_renderer(self) -> Renderer: ...

        def _wait_xml(self, session: CallSession, prompts: list[Any]) -> str: ...

        async def _guarded(
            self, hook: Webhook, form: params.Form, call: params.CallParams
        ) -> tuple[CallSession | None, str, Reply | None]: ...

        async def _step(
            self, session: CallSession, key: str, work: Coroutine[Any, Any, list[Action]]
        ) -> Reply: ...

        async def _update_call(self, call_id: str, **changes: str) -> bool: ...

        def _spawn(self, work: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]: ...

    # Agent legs

    async def connect_agent(
        self, call_id: str, agent: AgentEndpoint, ring_timeout: float, whisper: str = ""
    ) -> AgentLegResult:
        """Ring ``agent`` with the Calls API; on answer, bridge both through the conference.

        The caller hears the hold loop while the agent's phone rings. Returns the leg's
        result, ``CALLER_GONE`` if the caller hung up first. Raises ``ConnectorError`` if
        Twilio rejects a request. If cancelled while the agent's phone rings, the leg is
        hung up and the caller stays on hold.
        """
        attempt = self._new_id()
        async with self._lock(call_id):
            session = await self._load(call_id)
            if session is None or session.state is CallState.ENDED:
                return AgentLegResult.CALLER_GONE
            session = session.moved_to(
                CallState.RINGING_AGENT,
                attempt=attempt,
                leg_result="",
                agent_sid="",
                agent_left=False,
                whisper=whisper if self.settings.whisper else "",
            )
            await self._save(session)
        log.info("twilio_agent_dialing", call_sid=call_id, agent_id=agent.agent_id, attempt=attempt)
        future = LegFuture.create(call_id)
        self._legs[attempt] = future
        leg_sid = ""
        try:
            leg_sid = await self._place_leg(session, agent.address, ring_timeout, "agent", attempt)
            await self._remember_agent_leg(call_id, attempt, leg_sid)
            stored = lambda: self._stored_result(call_id, attempt, consult=False)  # noqa: E731
            result = await self._wait_leg(call_id, future, ring_timeout, stored)
            return await self._settle_agent_leg(call_id, attempt, leg_sid, result)
        except (ConnectorError, asyncio.CancelledError):
            await self._end_leg(call_id, leg_sid)
            await self._back_to_queue(call_id, attempt)
            raise
        finally:
            self._legs.pop(attempt, None)

    async def _settle_agent_leg(
        self, call_id: str, attempt: str, leg_sid: str, result: AgentLegResult | None
    ) -> AgentLegResult:
        if result is None:
            log.warning("twilio_agent_leg_silent", call_sid=call_id, attempt=attempt)
            result = AgentLegResult.NO_ANSWER
        log.info("twilio_agent_leg_result", call_sid=call_id, result=result.value)
        if result is AgentLegResult.ANSWERED:
            if await self._bridge_caller(call_id, attempt):
                return result
            result = AgentLegResult.CALLER_GONE
        await self._end_leg(call_id, leg_sid)
        await self._back_to_queue(call_id, attempt)
        return result

    async def _place_leg(
        self, session: CallSession, address: str, ring_timeout: float, kind: str, attempt: str
    ) -> str:
        """Call ``address`` with the Calls API; return the leg's CallSid."""
        query: dict[str, str | int] = {"call": session.call_sid, "attempt": attempt}
        try:
            leg = await self._rest().calls.create_async(
                to=call_address(address),
                from_=self.settings.caller_id or session.called,
                url=self.urls.at(f"{kind}-join", **query),
                method="POST",
                status_callback=self.urls.at(f"{kind}-status", **query),
                status_callback_method="POST",
                status_callback_event=LEG_EVENTS,
                timeout=ring_seconds(ring_timeout),
            )
        except TwilioRestException as error:
            raise self._rest_error(error, "the call to the agent", session.call_sid) from None
        return str(leg.sid)

    async def _remember_agent_leg(self, call_id: str, attempt: str, leg_sid: str) -> None:
        async with self._lock(call_id):
            session = await self._load(call_id)
            if session is not None and session.attempt == attempt:
                await self._save(session.replace(agent_sid=leg_sid))

    async def _wait_leg(
        self, call_id: str, future: LegFuture, ring_timeout: float, stored: StoredResult
    ) -> AgentLegResult | None:
        """Wait for the leg's result from a callback here or the store; None if none came."""
        polls = math.ceil((ring_timeout + LEG_GRACE_SECONDS) / LEG_POLL_SECONDS)
        for _ in range(polls):
            await asyncio.wait({future}, timeout=LEG_POLL_SECONDS)
            result = future.result() if future.done() else await stored()
            if result is not None:
                return result
        return None

    async def _stored_result(
        self, call_id: str, attempt: str, *, consult: bool
    ) -> AgentLegResult | None:
        session = await self._load(call_id)
        if session is None or session.state is CallState.ENDED:
            return AgentLegResult.CALLER_GONE
        if consult and session.consult_attempt == attempt and session.consult_result:
            return AgentLegResult(session.consult_result)
        if not consult and session.attempt == attempt and session.leg_result:
            return AgentLegResult(session.leg_result)
        return None

    def _resolve_leg(self, attempt: str, result: AgentLegResult) -> None:
        future = self._legs.get(attempt)
        if future is not None and not future.done():
            future.set_result(result)

    async def _bridge_caller(self, call_id: str, attempt: str) -> bool:
        """Move the caller from the hold loop into the conference; False if the caller left."""
        async with self._lock(call_id):
            session = await self._load(call_id)
            if session is None or session.state is not CallState.RINGING_AGENT:
                return False
            if session.attempt != attempt:
                return False
            xml = caller_conference_xml(self.urls, call_id, session.step, attempt)
            if not await self._update_call(call_id, twiml=xml):
                return False
            await self._save(session.moved_to(CallState.CONNECTED, conference_sid=""))
        log.info("twilio_agent_bridged", call_sid=call_id, attempt=attempt)
        return True

    async def _back_to_queue(self, call_id: str, attempt: str) -> None:
        """Put a caller whose agent leg ``attempt`` did not connect back in the queue state."""
        async with self._lock(call_id):
            session = await self._load(call_id)
            if session is None or session.state is not CallState.RINGING_AGENT:
                return
            if session.attempt == attempt:
                await self._save(session.moved_to(CallState.QUEUED, attempt=""))

    async def _end_leg(self, call_id: str, leg_sid: str) -> None:
        """Hang up the leg ``leg_sid`` whether it rings or talks; a leg already gone is fine."""
        if not leg_sid:
            return
        try:
            await self._rest().calls(leg_sid).update_async(status="completed")
        except TwilioRestException as error:
            if error.status != 404:
                log.warning(
                    "twilio_leg_hangup_failed", call_sid=call_id, leg_sid=leg_sid, error=error.msg
                )

    # Agent leg webhooks

    async def _on_agent_join(
        self, hook: Webhook, form: params.Form, call: params.CallParams
    ) -> Reply:
        parent, attempt = hook.query.get("call", ""), hook.query.get("attempt", "")
        session = await self._record_answer(parent, attempt, consult=False)
        if session is None or session.attempt != attempt:
            return Reply(200, hangup_xml())
        say = self._running_renderer().voice.say_attributes(session.language)
        xml = leg_conference_xml(
            self.urls, parent, ends_conference=True, whisper=session.whisper, **say
        )
        return Reply(200, xml)

    async def _on_agent_status(
        self, hook: Webhook, form: params.Form, call: params.CallParams
    ) -> Reply:
        status = params.parse_status(form).call_status
        parent, attempt = hook.query.get("call", ""), hook.query.get("attempt", "")
        if status == "in-progress":
            await self._record_answer(parent, attempt, consult=False)
        elif status in params.TERMINAL_STATUSES:
            await self._record_agent_end(parent, attempt, call.call_sid, status)
        return Reply(204, "")

    async def _record_answer(
        self, parent: str, attempt: str, *, consult: bool
    ) -> CallSession | None:
        """Record that the leg of ``attempt`` answered, unless its result is already known.

        The waiting ``connect_agent`` or ``consult`` gets the attempt's recorded result,
        so a late answer after a miss that another process recorded changes nothing.
        """
        answered = AgentLegResult.ANSWERED.value
        async with self._lock(parent):
            session = await self._load(parent)
            if session is None or session.state is CallState.ENDED:
                return session
            if consult and session.consult_attempt == attempt:
                if not session.consult_result:
                    session = session.replace(consult_result=answered)
                    await self._save(session)
                self._resolve_leg(attempt, AgentLegResult(session.consult_result))
            elif not consult and session.attempt == attempt:
                if not session.leg_result:
                    session = session.replace(leg_result=answered)
                    await self._save(session)
                self._resolve_leg(attempt, AgentLegResult(session.leg_result))
        return session

    async def _record_agent_end(self, parent: str, attempt: str, leg_sid: str, status: str) -> None:
        """Record a miss, or that an answered agent leg ended (the conference then ends)."""
        async with self._lock(parent):
            session = await self._load(parent)
            if session is None or session.attempt != attempt or session.leg_result:
                if status == "completed":
                    await self._note_agent_left(session, leg_sid)
                return
            miss = LEG_MISSES[status]
            await self._save(session.replace(leg_result=miss.value))
        log.info("twilio_agent_leg_missed", call_sid=parent, attempt=attempt, status=status)
        self._resolve_leg(attempt, miss)

    async def _note_agent_left(self, session: CallSession | None, leg_sid: str) -> None:
        """Mark that the bridged agent's leg ended. The caller holds the lock."""
        if session is None or session.state is not CallState.CONNECTED:
            return
        if leg_sid == session.agent_sid and not session.agent_left:
            await self._save(session.replace(agent_left=True))
            work = self._end_bridge_late(session.call_sid, session.attempt)
            self._spawn(work, f"twilio-agent-gone-{session.call_sid}")

    async def _end_bridge_late(self, call_id: str, attempt: str) -> None:
        """Redirect the caller to its Dial action if the conference's end did not do it."""
        await asyncio.sleep(AGENT_GONE_GRACE_SECONDS)
        session = await self._load(call_id)
        if session is None or session.state is not CallState.CONNECTED:
            return
        if session.attempt != attempt:
            return
        log.warning("twilio_conference_end_missed", call_sid=call_id, attempt=attempt)
        url = self.urls.at("agent-ended", step=session.step, attempt=attempt)
        try:
            await self._update_call(call_id, url=url)
        except ConnectorError as error:
            log.warning("twilio_conference_end_redirect_failed", call_sid=call_id, error=str(error))

    async def _on_agent_ended(
        self, hook: Webhook, form: params.Form, call: params.CallParams
    ) -> Reply:
        """Continue the IVR after the conference ended: the agent left or was removed.

        NOTE: Twilio documents ``DialCallStatus`` on the ``<Dial>`` action for a dialed
        number or client. For a ``<Conference>`` it may be absent, so a missing one
        counts as ``completed``.
        """
        dial_status = params.first(form, "DialCallStatus", "completed")
        attempt = hook.query.get("attempt", "")
        async with self._lock(call.call_sid):
            session, key, early = await self._guarded(hook, form, call)
            if early is not None:
                return early
            if session is None:
                log.warning("twilio_call_unknown", call_sid=call.call_sid)
                return Reply(200, hangup_xml())
            if session.attempt != attempt:
                # A Dial that santral already replaced; keep the caller on hold.
                log.warning("twilio_agent_leg_stale", call_sid=call.call_sid, attempt=attempt)
                return Reply(200, self._wait_xml(session, []))
            consult_sid = session.consult_sid if session.consult_attempt else ""
            log.info(
                "twilio_agent_leg_ended",
                call_sid=call.call_sid,
                attempt=attempt,
                dial_status=dial_status,
            )
            session = session.moved_to(
                CallState.IVR,
                leg_result=AgentLegResult.ANSWERED.value,
                conference_sid="",
                consult_attempt="",
                consult_sid="",
                consult_result="",
            )
            self._resolve_leg(attempt, AgentLegResult.ANSWERED)
            await self._end_leg(call.call_sid, consult_sid)
            return await self._step(session, key, self._after_agent(call.call_sid))

    async def _after_agent(self, call_id: str) -> list[Action]:
        await self._calls.agent_leg_ended(call_id)
        status = self._calls.queue_status(call_id)
        outcome = status.outcome if status is not None else None
        return await self._calls.handle(call_id, outcome or QueueResult(outcome="answered"))

    async def _on_hold_music(self) -> Reply:
        parts = self._music.parts if self._music is not None else 0
        pause = int(self.settings.queue_poll_interval)
        return Reply(200, hold_music_xml(self.urls, parts, pause))

    # Hold and hang-up of the agent leg

    async def hold(self, call_id: str, on_hold: bool) -> None:
        """Put the caller on hold with music, or back in the conversation, by Participants API.

        Raises ``ConnectorError`` if the caller is not bridged with an agent or Twilio
        rejects the update.
        """
        session = await self._connected(call_id, "hold")
        await self._hold_caller(session, on_hold)
        log.info("twilio_caller_hold", call_sid=call_id, on_hold=on_hold)

    async def hangup_agent(self, call_id: str) -> None:
        """End the agent's leg alone; the conference ends and the caller's IVR continues.

        Raises ``ConnectorError`` if the caller is not bridged with an agent or Twilio
        rejects the hang-up.
        """
        session = await self._connected(call_id, "hang up the agent of")
        try:
            await self._rest().calls(session.agent_sid).update_async(status="completed")
        except TwilioRestException as error:
            if error.status != 404:
                raise self._rest_error(error, "the agent's hang-up", call_id) from None
        log.info("twilio_agent_hung_up", call_sid=call_id, agent_sid=session.agent_sid)

    async def _connected(self, call_id: str, operation: str) -> CallSession:
        session = await self._load(call_id)
        if session is None or session.state is not CallState.CONNECTED or not session.agent_sid:
            state = "unknown" if session is None else session.state.value
            raise ConnectorError(
                f"cannot {operation} a call that is not bridged with an agent (state {state})",
                call_id=call_id,
            )
        return session

    async def _hold_caller(self, session: CallSession, on_hold: bool) -> None:
        changes: dict[str, Any] = {"hold": on_hold}
        if on_hold:
            changes.update(hold_url=self.urls.at("hold-music"), hold_method="POST")
        await self._update_participant(session, session.call_sid, **changes)

    async def _update_participant(
        self, session: CallSession, participant_sid: str, **changes: Any
    ) -> None:
        conference_sid = await self._conference_sid(session)
        participant = self._rest().conferences(conference_sid).participants(participant_sid)
        try:
            await participant.update_async(**changes)
        except TwilioRestException as error:
            raise self._rest_error(error, "the participant update", session.call_sid) from None

    async def _remove_participant(self, session: CallSession, participant_sid: str) -> None:
        conference_sid = await self._conference_sid(session)
        participant = self._rest().conferences(conference_sid).participants(participant_sid)
        try:
            await participant.delete_async()
        except TwilioRestException as error:
            if error.status != 404:
                raise self._rest_error(error, "the participant removal", session.call_sid) from None

    async def _conference_sid(self, session: CallSession) -> str:
        """Return the SID of the call's conference, looked up by name once per bridge."""
        if session.conference_sid:
            return session.conference_sid
        name = conference_name(session.call_sid)
        try:
            found = await self._rest().conferences.list_async(
                friendly_name=name, status="in-progress", limit=1
            )
        except TwilioRestException as error:
            raise self._rest_error(error, "the conference lookup", session.call_sid) from None
        if not found:
            raise ConnectorError(f"conference {name} is not in progress", call_id=session.call_sid)
        conference_sid = str(found[0].sid)
        async with self._lock(session.call_sid):
            current = await self._load(session.call_sid)
            if current is not None and current.state is CallState.CONNECTED:
                await self._save(current.replace(conference_sid=conference_sid))
        return conference_sid

    def _rest_error(self, error: TwilioRestException, what: str, call_id: str) -> ConnectorError:
        self._last_error = f"REST {error.status}: {error.msg}"
        return ConnectorError(f"Twilio rejected {what}: {error.msg}", call_id=call_id)

    # Consultation

    async def consult(
        self, call_id: str, target: AgentEndpoint, ring_timeout: float
    ) -> AgentLegResult:
        """Hold the caller and ring ``target`` into the conference for the agent to talk to.

        Returns ``ANSWERED`` when the agent and the target talk while the caller holds.
        On any other result the consulted leg is ended and the caller is off hold again.
        Raises ``ConnectorError`` if no agent is bridged, a consultation is already on,
        or Twilio rejects a request. If cancelled, the consulted leg is hung up and the
        caller comes off hold.
        """
        attempt = self._new_id()
        async with self._lock(call_id):
            session = await self._connected(call_id, "consult on")
            if session.consult_attempt:
                raise ConnectorError("a consultation is already in progress", call_id=call_id)
            session = session.replace(consult_attempt=attempt, consult_sid="", consult_result="")
            await self._save(session)
        log.info("twilio_consult_dialing", call_sid=call_id, target=target.agent_id or "number")
        future = LegFuture.create(call_id)
        self._legs[attempt] = future
        leg_sid = ""
        try:
            await self._hold_caller(session, True)
            leg_sid = await self._place_leg(
                session, target.address, ring_timeout, "consult", attempt
            )
            await self._remember_consult_leg(call_id, attempt, leg_sid)
            stored = lambda: self._stored_result(call_id, attempt, consult=True)  # noqa: E731
            result = await self._wait_leg(call_id, future, ring_timeout, stored)
            result = result or AgentLegResult.NO_ANSWER
            log.info("twilio_consult_result", call_sid=call_id, result=result.value)
            if result is not AgentLegResult.ANSWERED:
                await self._drop_consult(call_id, attempt, leg_sid)
            return result
        except (ConnectorError, asyncio.CancelledError):
            await self._drop_consult(call_id, attempt, leg_sid)
            raise
        finally:
            self._legs.pop(attempt, None)

    async def _remember_consult_leg(self, call_id: str, attempt: str, leg_sid: str) -> None:
        async with self._lock(call_id):
            session = await self._load(call_id)
            if session is not None and session.consult_attempt == attempt:
                await self._save(session.replace(consult_sid=leg_sid))

    async def _drop_consult(self, call_id: str, attempt: str, leg_sid: str) -> bool:
        """End the consultation ``attempt``: its leg hangs up and the caller comes off hold.

        Returns False if the consultation had already ended (another path dropped it).
        """
        async with self._lock(call_id):
            session = await self._load(call_id)
            if session is None or session.consult_attempt != attempt:
                return False
            session = session.replace(consult_attempt="", consult_sid="", consult_result="")
            await self._save(session)
        await self._end_leg(call_id, leg_sid)
        if session.state is CallState.CONNECTED and not session.agent_left:
            try:
                await self._hold_caller(session, False)
            except ConnectorError as error:
                log.warning("twilio_unhold_failed", call_sid=call_id, error=str(error))
        return True

    async def complete_consult(self, call_id: str) -> None:
        """Make the consulted party the agent leg: the first agent leaves, the caller joins.

        Raises ``ConnectorError`` if no consultation is talking or Twilio rejects a request.
        """
        async with self._lock(call_id):
            session = await self._talking_consult(call_id)
            agent_sid, consulted = session.agent_sid, session.consult_sid
            session = session.replace(
                agent_sid=consulted, consult_attempt="", consult_sid="", consult_result=""
            )
            await self._save(session)
        # The consulted party must end the conference before the first agent stops doing
        # so, or removing the first agent would end it for everyone.
        await self._update_participant(session, consulted, end_conference_on_exit=True)
        await self._update_participant(session, agent_sid, end_conference_on_exit=False)
        await self._remove_participant(session, agent_sid)
        await self._hold_caller(session, False)
        log.info("twilio_consult_completed", call_sid=call_id, agent_sid=consulted)

    async def cancel_consult(self, call_id: str) -> None:
        """End the consulted party's leg and take the caller off hold.

        Raises ``ConnectorError`` if no consultation is talking.
        """
        async with self._lock(call_id):
            session = await self._talking_consult(call_id)
        await self._drop_consult(call_id, session.consult_attempt, session.consult_sid)
        log.info("twilio_consult_cancelled", call_sid=call_id)

    async def _talking_consult(self, call_id: str) -> CallSession:
        session = await self._connected(call_id, "end a consultation on")
        if session.consult_result != AgentLegResult.ANSWERED.value or not session.consult_sid:
            raise ConnectorError("no consultation is in progress", call_id=call_id)
        return session

    # Consult leg webhooks

    async def _on_consult_join(
        self, hook: Webhook, form: params.Form, call: params.CallParams
    ) -> Reply:
        parent, attempt = hook.query.get("call", ""), hook.query.get("attempt", "")
        session = await self._record_answer(parent, attempt, consult=True)
        if session is None or session.consult_attempt != attempt:
            return Reply(200, hangup_xml())
        return Reply(200, leg_conference_xml(self.urls, parent, ends_conference=False))

    async def _on_consult_status(
        self, hook: Webhook, form: params.Form, call: params.CallParams
    ) -> Reply:
        status = params.parse_status(form).call_status
        parent, attempt = hook.query.get("call", ""), hook.query.get("attempt", "")
        if status == "in-progress":
            await self._record_answer(parent, attempt, consult=True)
        elif status in params.TERMINAL_STATUSES:
            await self._record_consult_end(parent, attempt, call.call_sid, status)
        return Reply(204, "")

    async def _record_consult_end(
        self, parent: str, attempt: str, leg_sid: str, status: str
    ) -> None:
        """Record a missed consult leg, or handle the consulted party hanging up."""
        async with self._lock(parent):
            session = await self._load(parent)
            if session is None or session.consult_attempt != attempt:
                # A completed transfer made this leg the agent leg; otherwise it is stale.
                if status == "completed":
                    await self._note_agent_left(session, leg_sid)
                return
            if not session.consult_result:
                miss = LEG_MISSES[status]
                await self._save(session.replace(consult_result=miss.value))
                self._resolve_leg(attempt, miss)
                return
            leg_sid = session.consult_sid
        # NOTE: when the agent leaves during a consultation, the conference ends and this
        # callback may come before the caller's Dial action. Unless the agent leg's own
        # end arrived first, the engine then hears of the consulted leg's end too.
        if await self._drop_consult(parent, attempt, leg_sid) and not session.agent_left:
            log.info("twilio_consult_leg_ended", call_sid=parent)
            await self._calls.consult_leg_ended(parent)
