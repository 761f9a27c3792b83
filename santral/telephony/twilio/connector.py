"""The Twilio voice connector: webhooks in, TwiML out, agent legs over the REST API.

Agent legs, hold and consultation live in ``bridge.py``, which this class inherits.

Every webhook is validated, parsed, and handled under a per-call lock, and the reply is
saved with the call's session so a retried webhook gets the same reply without repeating
its effect. The IVR step behind a webhook gets ``reply_budget`` seconds. A slower step (a
data dip) keeps running while the caller hears a short pause, and then Twilio requests
``continue``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, cast

import structlog
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.voice_response import Dial, VoiceResponse

from ivr.actions import (
    Action,
    CallInfo,
    Enqueue,
    Event,
    PromptFinished,
    QueueResult,
)
from santral.clock import Clock
from santral.errors import ConnectorError
from santral.events import EventBus
from santral.telephony.base import AgentLegResult, CallFlow
from santral.telephony.twilio import form as params
from santral.telephony.twilio.bridge import AgentBridge, LegFuture
from santral.telephony.twilio.hold import HoldMusic, announcement
from santral.telephony.twilio.ivr_events import (
    gather_event,
    language_of,
    pending_spec,
    record_event,
)
from santral.telephony.twilio.session import (
    STATUS_RANK,
    CallSession,
    CallState,
    EngineSessionStore,
    KeyValueSessions,
    MemorySessionStore,
    SessionStore,
)
from santral.telephony.twilio.settings import TwilioCredentials, TwilioSettings
from santral.telephony.twilio.signature import SignedRequest, is_valid
from santral.telephony.twilio.twiml import Renderer, Urls, Voice, add_endpoint
from santral.telephony.twilio.webhook import Reply, Webhook, hangup_xml, request_key

log = structlog.get_logger(__name__)

# A slow IVR step gets this many pause-and-continue rounds (each about slow_step_pause plus
# reply_budget seconds) before the call is given up.
MAX_CONTINUE_ATTEMPTS = 60


Handler = Callable[[Webhook, params.Form, params.CallParams], Awaitable[Reply]]


class TwilioConnector(AgentBridge):
    """Serves Twilio calls: implements ``CallControl`` and ``Connector`` for the engine.

    ``store`` keeps the call sessions: a ``SessionStore``, or the engine's store (anything
    with ``save_session`` and ``load_session``), or None for memory only. ``rest_client``
    replaces the ``twilio.rest.Client`` that is otherwise built on the first REST request
    (tests set one with a capturing HTTP client). ``public_url`` is the engine's top-level
    public URL.
    """

    name = "twilio"

    def __init__(
        self,
        settings: TwilioSettings,
        calls: CallFlow,
        *,
        clock: Clock,
        bus: EventBus,
        store: SessionStore | KeyValueSessions | None = None,
        rest_client: Client | None = None,
        public_url: str | None = None,
        environ: Mapping[str, str] | None = None,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self.settings = settings
        self._calls = calls
        self._clock = clock
        self._bus = bus
        self._store = session_store(store)
        self.rest_client = rest_client
        self._live_http: AsyncTwilioHttpClient | None = None
        self._public_url = public_url
        self._environ = environ
        self._new_id = new_id
        self._credentials: TwilioCredentials | None = None
        self._validator: RequestValidator | None = None
        self.renderer: Renderer | None = None
        self._music: HoldMusic | None = None
        self._locks: dict[str, asyncio.Lock] = {}
        self._legs: dict[str, LegFuture] = {}
        self._pending: dict[str, asyncio.Task[list[Action]]] = {}
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._handlers: dict[str, Handler] = self._handler_table()
        self._last_error = ""
        self._rejected = 0

    # Lifecycle

    async def start(self) -> None:
        """Read the secrets and the public URL, or raise ``TwilioSetupError`` if one is missing."""
        credentials = self.settings.credentials(self._public_url, self._environ)
        self._credentials = credentials
        self._validator = RequestValidator(credentials.auth_token)
        urls = Urls(credentials.public_url + self.settings.path_prefix)
        voice = Voice(dict(self.settings.languages), dict(self.settings.voices))
        self.renderer = Renderer(urls, voice, self._prompt_exists)
        self._music = self._load_music()
        log.info(
            "twilio_connector_started",
            public_url=credentials.public_url,
            account_sid=credentials.account_sid,
        )

    async def stop(self) -> None:
        """Stop background steps and agent legs. The calls stay with Twilio and its webhooks."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for future in self._legs.values():
            if not future.done():
                future.cancel()
        self._credentials = None
        if self._live_http is not None:
            await self._live_http.close()
            self._live_http = None
            self.rest_client = None
        log.info("twilio_connector_stopped")

    def health(self) -> dict[str, object]:
        """Return whether the connector runs, its live call count and the last error."""
        return {
            "connected": self._credentials is not None,
            "calls": len(self._locks),
            "rejected_requests": self._rejected,
            "last_error": self._last_error,
        }

    @property
    def urls(self) -> Urls:
        return self._running_renderer().urls

    # Webhooks

    async def handle_webhook(self, hook: Webhook) -> Reply:
        """Validate, parse and handle one webhook. Malformed requests get 4xx, never 500."""
        if self._validator is None or self._credentials is None:
            return Reply(503, "the Twilio connector is not running", "text/plain")
        try:
            form = params.parse_form(hook.body)
        except params.WebhookError as error:
            return self._bad_request(hook, error)
        # Twilio signs a GET over the URL alone, and its parameters travel in that URL's query.
        if not self._signature_ok(hook, form if hook.method == "POST" else {}):
            return Reply(403, "invalid Twilio signature", "text/plain")
        if hook.kind in ("prompt", "music"):
            return Reply(404, "not a webhook", "text/plain")
        if hook.kind == "hold-music":
            # Requested for a conference participant on hold, without the call's parameters.
            return await self._on_hold_music()
        try:
            call = params.parse_call(form)
            if call.account_sid != self._credentials.account_sid:
                return self._forbidden_account(hook, call)
            return await self._handlers[hook.kind](hook, form, call)
        except params.WebhookError as error:
            return self._bad_request(hook, error)

    def check_media_request(self, hook: Webhook) -> Reply | None:
        """Return a 403 or 503 reply for a media request that may not be served, else None."""
        if self._validator is None:
            return Reply(503, "the Twilio connector is not running", "text/plain")
        if self.settings.validate_media and not self._signature_ok(hook, {}):
            return Reply(403, "invalid Twilio signature", "text/plain")
        return None

    def music_segment(self, part: int) -> bytes | None:
        """Return hold-music segment ``part`` as WAV, or None without hold music."""
        return None if self._music is None else self._music.segment(part)

    def _handler_table(self) -> dict[str, Handler]:
        return {
            "voice": self._on_voice,
            "status": self._on_status,
            "event": self._on_event,
            "gather": self._on_gather,
            "record": self._on_record,
            "continue": self._on_continue,
            "queue": self._on_queue,
            "queue-key": self._on_queue_key,
            "transfer": self._on_transfer_ended,
            "agent-join": self._on_agent_join,
            "agent-status": self._on_agent_status,
            "agent-ended": self._on_agent_ended,
            "consult-join": self._on_consult_join,
            "consult-status": self._on_consult_status,
        }

    def _signature_ok(self, hook: Webhook, form: params.Form) -> bool:
        assert self._validator is not None and self._credentials is not None
        request = SignedRequest(
            raw_target=hook.raw_target,
            params=form,
            signature=hook.signature,
            peer_address=hook.peer_address,
            forwarded_proto=hook.forwarded_proto,
            forwarded_host=hook.forwarded_host,
        )
        public_url = self._credentials.public_url
        if is_valid(self._validator, request, public_url, self.settings.trusted_proxies):
            return True
        self._rejected += 1
        log.warning(
            "twilio_signature_invalid",
            path=hook.raw_target.split("?")[0],
            peer=hook.peer_address,
            signature_present=bool(hook.signature),
        )
        return False

    def _bad_request(self, hook: Webhook, error: params.WebhookError) -> Reply:
        log.warning("twilio_webhook_malformed", kind=hook.kind, error=str(error))
        return Reply(400, f"malformed Twilio webhook: {error}", "text/plain")

    def _forbidden_account(self, hook: Webhook, call: params.CallParams) -> Reply:
        self._rejected += 1
        log.warning(
            "twilio_account_mismatch",
            kind=hook.kind,
            call_sid=call.call_sid,
            account_sid=call.account_sid,
        )
        return Reply(403, "request for another Twilio account", "text/plain")

    # Sessions and steps

    def _lock(self, call_sid: str) -> asyncio.Lock:
        return self._locks.setdefault(call_sid, asyncio.Lock())

    async def _load(self, call_sid: str) -> CallSession | None:
        data = await self._store.load_call_session(call_sid)
        return None if data is None else CallSession.from_dict(data)

    async def _save(self, session: CallSession) -> None:
        await self._store.save_call_session(session.call_sid, session.to_dict())

    async def _reply(self, session: CallSession, key: str, xml: str) -> Reply:
        session = session.replace(last_request=key, last_reply=xml)
        await self._save(session)
        return Reply(200, xml)

    async def _step(
        self, session: CallSession, key: str, work: Coroutine[Any, Any, list[Action]]
    ) -> Reply:
        """Run one IVR step and reply with its TwiML, or with a pause if it is slow.

        A slow step keeps running. When it ends, its TwiML is saved with the session as
        ``ready_reply``, and the next ``continue`` request, on any engine process, gets it.
        """
        task = self._spawn(work, f"twilio-step-{session.call_sid}")
        await wait_until_done(task, self.settings.reply_budget)
        if task.done():
            session, xml = self._outcome(session, task)
            return await self._reply(session, key, xml)
        self._pending[session.call_sid] = task
        self._spawn(self._settle_later(session.call_sid, task), f"twilio-settle-{session.call_sid}")
        waiting = session.replace(awaits="continue", ready_reply="")
        return await self._reply(waiting, key, self._pause_xml(waiting, attempt=1))

    def _outcome(
        self, session: CallSession, task: asyncio.Task[list[Action]]
    ) -> tuple[CallSession, str]:
        try:
            actions = task.result()
        except KeyError:
            log.warning("twilio_call_unknown", call_sid=session.call_sid)
            return session, hangup_xml()
        except Exception as error:
            self._last_error = repr(error)
            log.exception("twilio_ivr_step_failed", call_sid=session.call_sid)
            return session, hangup_xml()
        return self._apply(session, actions)

    async def _settle_later(self, call_sid: str, task: asyncio.Task[list[Action]]) -> None:
        await asyncio.wait({task})
        async with self._lock(call_sid):
            await self._settle(call_sid, task)
        if self._pending.get(call_sid) is task:
            del self._pending[call_sid]

    async def _settle(self, call_sid: str, task: asyncio.Task[list[Action]]) -> CallSession | None:
        """Save the finished slow step's TwiML as ``ready_reply``. The caller holds the lock."""
        session = await self._load(call_sid)
        if session is None or session.state is CallState.ENDED or session.awaits != "continue":
            return session
        if task.cancelled():
            return session
        session, xml = self._outcome(session, task)
        session = session.replace(ready_reply=xml)
        await self._save(session)
        return session

    def _apply(self, session: CallSession, actions: list[Action]) -> tuple[CallSession, str]:
        """Render ``actions`` as the call's next step and move the session along."""
        step = session.step + 1
        rendered = self._running_renderer().render(actions, step)
        changes: dict[str, Any] = {
            "step": step,
            "awaits": rendered.awaits,
            "pending": pending_spec(actions),
        }
        language = language_of(actions)
        if language:
            changes["language"] = language
        if rendered.awaits == "queue":
            enqueue = next(a for a in reversed(actions) if isinstance(a, Enqueue))
            changes.update(queue=enqueue.queue, queued_at=self._clock.now(), announced_at=-1.0)
            self._watch_queue(session.call_sid)
            return session.moved_to(CallState.QUEUED, **changes), rendered.xml
        if rendered.awaits == "transfer":
            return session.moved_to(CallState.TRANSFERRED, **changes), rendered.xml
        return session.moved_to(CallState.IVR, **changes), rendered.xml

    def _pause_xml(self, session: CallSession, attempt: int) -> str:
        response = VoiceResponse()
        response.pause(length=self.settings.slow_step_pause)
        response.redirect(self.urls.at("continue", step=session.step, attempt=attempt))
        return str(response.to_xml())

    def _spawn(self, work: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _guarded(
        self, hook: Webhook, form: params.Form, call: params.CallParams
    ) -> tuple[CallSession | None, str, Reply | None]:
        """Load the session, with a replay reply for a retried request or a stale step."""
        key = request_key(hook)
        session = await self._load(call.call_sid)
        if session is None:
            return None, key, None
        if session.last_request == key:
            log.info("twilio_webhook_retried", call_sid=call.call_sid, kind=hook.kind)
            return session, key, Reply(200, session.last_reply)
        if session.state is CallState.ENDED:
            return session, key, Reply(200, hangup_xml())
        step = hook.query.get("step")
        if step is not None and step != str(session.step):
            log.warning(
                "twilio_webhook_stale",
                call_sid=call.call_sid,
                kind=hook.kind,
                step=step,
                current=session.step,
            )
            return session, key, Reply(200, session.last_reply or hangup_xml())
        return session, key, None

    # Handlers: the IVR

    async def _on_voice(self, hook: Webhook, form: params.Form, call: params.CallParams) -> Reply:
        async with self._lock(call.call_sid):
            session, key, early = await self._guarded(hook, form, call)
            if session is not None:
                return early or Reply(200, session.last_reply or hangup_xml())
            # No save here: _step saves the session with its reply before the lock is released.
            session = CallSession.new(call.call_sid, status=call.call_status, called=call.called)
            log.info(
                "twilio_call_started",
                call_sid=call.call_sid,
                caller=call.caller,
                called=call.called,
            )
            info = CallInfo(
                call_id=call.call_sid, caller=call.caller, called=call.called, connector=self.name
            )
            return await self._step(session, key, self._calls.start_call(info, self))

    async def _feed(
        self,
        hook: Webhook,
        form: params.Form,
        call: params.CallParams,
        event_of: Callable[[CallSession], Event],
    ) -> Reply:
        async with self._lock(call.call_sid):
            session, key, early = await self._guarded(hook, form, call)
            if early is not None:
                return early
            if session is None:
                return _unknown_call(call)
            event = event_of(session)
            return await self._step(session, key, self._calls.handle(call.call_sid, event))

    async def _on_event(self, hook: Webhook, form: params.Form, call: params.CallParams) -> Reply:
        if hook.query.get("kind") != "prompt_finished":
            raise params.WebhookError(f"event kind {hook.query.get('kind')!r} is unknown")
        return await self._feed(hook, form, call, lambda session: PromptFinished())

    async def _on_gather(self, hook: Webhook, form: params.Form, call: params.CallParams) -> Reply:
        result = params.parse_gather(form)
        empty = hook.query.get("empty") == "1"
        return await self._feed(hook, form, call, lambda s: gather_event(result, s.pending, empty))

    async def _on_record(self, hook: Webhook, form: params.Form, call: params.CallParams) -> Reply:
        result = params.parse_record(form)
        if result.url:
            # The audio stays at Twilio; RecordingFinished has no field for where it is.
            log.info(
                "twilio_recording_finished",
                call_sid=call.call_sid,
                url=result.url,
                duration=result.duration,
            )
        empty = hook.query.get("empty") == "1"
        return await self._feed(hook, form, call, lambda s: record_event(result, s.pending, empty))

    async def _on_continue(
        self, hook: Webhook, form: params.Form, call: params.CallParams
    ) -> Reply:
        task = self._pending.get(call.call_sid)
        if task is not None:
            await asyncio.wait({task}, timeout=self.settings.reply_budget)
        async with self._lock(call.call_sid):
            key = request_key(hook)
            session = await self._load(call.call_sid)
            if session is None:
                return _unknown_call(call)
            if session.last_request == key or session.state is CallState.ENDED:
                return Reply(200, session.last_reply or hangup_xml())
            if task is not None and task.done():
                session = await self._settle(call.call_sid, task) or session
            if session.ready_reply:
                xml = session.ready_reply
                return await self._reply(session.replace(ready_reply=""), key, xml)
            if session.awaits != "continue":
                return Reply(200, session.last_reply or hangup_xml())
            return await self._keep_waiting(session, key, hook)

    async def _keep_waiting(self, session: CallSession, key: str, hook: Webhook) -> Reply:
        raw = hook.query.get("attempt", "1")
        attempt = (int(raw) if raw.isdigit() else 1) + 1
        if attempt > MAX_CONTINUE_ATTEMPTS:
            # The step's process stopped, or the step hangs past every data dip timeout.
            log.error("twilio_step_lost", call_sid=session.call_sid, step=session.step)
            return await self._reply(session, key, hangup_xml())
        return await self._reply(session, key, self._pause_xml(session, attempt))

    async def _on_transfer_ended(
        self, hook: Webhook, form: params.Form, call: params.CallParams
    ) -> Reply:
        dial = params.parse_dial(form)
        log.info("twilio_transfer_ended", call_sid=call.call_sid, dial_status=dial.status)
        return Reply(200, hangup_xml())

    # Handlers: call status

    async def _on_status(self, hook: Webhook, form: params.Form, call: params.CallParams) -> Reply:
        status = params.parse_status(form)
        async with self._lock(call.call_sid):
            session = await self._load(call.call_sid) or CallSession(
                call_sid=call.call_sid, status="queued"
            )
            if session.state is CallState.ENDED:
                log.info(
                    "twilio_status_repeated", call_sid=call.call_sid, status=status.call_status
                )
                return Reply(204, "")
            if STATUS_RANK[status.call_status] < STATUS_RANK[session.status]:
                log.info(
                    "twilio_status_out_of_order",
                    call_sid=call.call_sid,
                    status=status.call_status,
                    current=session.status,
                )
                return Reply(204, "")
            if status.call_status not in params.TERMINAL_STATUSES:
                await self._save(session.replace(status=status.call_status))
                return Reply(204, "")
            await self._save(session.moved_to(CallState.ENDED, status=status.call_status))
        if session.consult_attempt:
            # A consulted leg that still rings is in no conference yet, so nothing ends it.
            await self._end_leg(call.call_sid, session.consult_sid)
        await self._end_call(call.call_sid, status.call_status)
        return Reply(204, "")

    async def _end_call(self, call_sid: str, cause: str) -> None:
        for task in (self._pending.pop(call_sid, None), self._watchers.pop(call_sid, None)):
            if task is not None:
                task.cancel()
        for future in self._legs.values():
            if getattr(future, "call_sid", None) == call_sid and not future.done():
                future.set_result(AgentLegResult.CALLER_GONE)
        log.info("twilio_call_ended", call_sid=call_sid, cause=cause)
        try:
            await self._calls.caller_hung_up(call_sid, cause)
        finally:
            self._locks.pop(call_sid, None)

    # Handlers: the queue

    async def _on_queue(self, hook: Webhook, form: params.Form, call: params.CallParams) -> Reply:
        async with self._lock(call.call_sid):
            session, key, early = await self._guarded(hook, form, call)
            if early is not None:
                return early
            if session is None:
                return _unknown_call(call)
            if session.state is not CallState.QUEUED:
                return await self._reply(session, key, self._wait_xml(session, []))
            status = self._calls.queue_status(call.call_sid)
            outcome = status.outcome if status is not None else None
            if outcome is not None:
                log.info("twilio_queue_outcome", call_sid=call.call_sid, outcome=outcome.outcome)
                return await self._step(session, key, self._calls.handle(call.call_sid, outcome))
            if status is None:
                return await self._reply(session, key, self._wait_xml(session, []))
            spoken = announcement(
                status,
                session.language,
                now=self._clock.now(),
                announced_at=session.announced_at,
                periodic_index=session.periodic_index,
            )
            if spoken.announced:
                session = session.replace(
                    announced_at=self._clock.now(), periodic_index=spoken.periodic_index
                )
            session = session.replace(music_part=session.music_part + 1)
            xml = self._wait_xml(session, spoken.prompts, exit_key=status.exit_key)
            return await self._reply(session, key, xml)

    def _wait_xml(self, session: CallSession, prompts: list[Any], exit_key: str = "") -> str:
        """Return one pass of the hold loop: announcements, a music segment, a redirect."""
        renderer = self._running_renderer()
        response = VoiceResponse()
        parent: Any = response
        if exit_key:
            parent = response.gather(
                input="dtmf",
                num_digits=1,
                timeout=1,
                finish_on_key="",
                action=self.urls.at("queue-key", step=session.step),
                method="POST",
                action_on_empty_result=False,
            )
        renderer.add_prompts(parent, prompts)
        if self._music is not None:
            parent.play(self.urls.at(f"music/{session.music_part % self._music.parts}.wav"))
        else:
            parent.pause(length=int(self.settings.queue_poll_interval))
        response.redirect(self.urls.at("queue", step=session.step, part=session.music_part))
        return str(response.to_xml())

    def _watch_queue(self, call_sid: str) -> None:
        """Watch the queue result so the caller's hold ends at once, not at the next poll."""
        if call_sid not in self._watchers:
            task = self._spawn(self._push_queue_outcome(call_sid), f"twilio-queue-{call_sid}")
            self._watchers[call_sid] = task
            task.add_done_callback(lambda _: self._watchers.pop(call_sid, None))

    async def _push_queue_outcome(self, call_sid: str) -> None:
        try:
            result = await self._calls.wait_queue_result(call_sid)
        except KeyError:
            return  # not queued after all; the hold loop's queue_status decides
        if result.outcome == "answered":
            return  # the agent leg ended; the Dial's action request carries on
        async with self._lock(call_sid):
            session = await self._load(call_sid)
            if session is None or session.state is not CallState.QUEUED:
                return
        log.info("twilio_queue_outcome_pushed", call_sid=call_sid, outcome=result.outcome)
        url = self.urls.at("queue", step=session.step, part=session.music_part)
        try:
            await self._update_call(call_sid, url=url)
        except ConnectorError as error:
            log.warning("twilio_queue_outcome_push_failed", call_sid=call_sid, error=str(error))

    async def _on_queue_key(
        self, hook: Webhook, form: params.Form, call: params.CallParams
    ) -> Reply:
        pressed = params.parse_gather(form).digits
        async with self._lock(call.call_sid):
            session, key, early = await self._guarded(hook, form, call)
            if early is not None:
                return early
            if session is None:
                return _unknown_call(call)
            status = self._calls.queue_status(call.call_sid)
            if session.state is CallState.QUEUED and status and pressed == status.exit_key:
                log.info("twilio_queue_left", call_sid=call.call_sid, queue=session.queue)
                left = QueueResult(outcome="left")
                return await self._step(session, key, self._calls.handle(call.call_sid, left))
            return await self._reply(session, key, self._wait_xml(session, []))

    # Other CallControl operations

    async def transfer(self, call_id: str, target: str) -> None:
        """Send the caller to ``target`` (number, SIP URI or client) and leave the IVR."""
        dial = Dial(action=self.urls.at("transfer", step=0))
        add_endpoint(dial, target)
        response = VoiceResponse()
        response.append(dial)
        if not await self._update_call(call_id, twiml=str(response.to_xml())):
            raise ConnectorError("the call to transfer has ended", call_id=call_id)
        async with self._lock(call_id):
            session = await self._load(call_id)
            if session is not None:
                await self._save(session.moved_to(CallState.TRANSFERRED))

    async def _update_call(self, call_id: str, **changes: str) -> bool:
        """Update the live call through the REST API; return False if the call is gone."""
        try:
            await self._rest().calls(call_id).update_async(**changes)
        except TwilioRestException as error:
            if error.status == 404:
                return False
            self._last_error = f"REST {error.status}: {error.msg}"
            raise ConnectorError(
                f"Twilio rejected the call update: {error.msg}", call_id=call_id
            ) from None
        return True

    async def hangup(self, call_id: str) -> None:
        """End the call at Twilio; the status callback then ends it in santral."""
        await self._update_call(call_id, status="completed")

    def _rest(self) -> Client:
        """Return the REST client, building the live one (with its own HTTP session) once."""
        if self.rest_client is None:
            credentials = self._credentials
            if credentials is None:
                raise ConnectorError("the Twilio connector is not running; call start() first")
            self._live_http = AsyncTwilioHttpClient()
            self.rest_client = Client(
                credentials.account_sid, credentials.auth_token, http_client=self._live_http
            )
        return self.rest_client

    # Media

    def _prompt_exists(self, language: str, name: str) -> bool:
        return self._calls.prompt_file(language, name) is not None

    def _load_music(self) -> HoldMusic | None:
        path = self.settings.hold_music
        if path is None or not path.is_file():
            return None
        return HoldMusic(path, self.settings.queue_poll_interval)

    def _running_renderer(self) -> Renderer:
        if self.renderer is None:
            raise ConnectorError("the Twilio connector is not running; call start() first")
        return self.renderer

    def prompt_path(self, language: str, name: str) -> Any:
        """Return the WAV file of a prompt for ``<Play>``, or None if it is missing."""
        return self._calls.prompt_file(language, name)


async def wait_until_done(task: asyncio.Future[Any], seconds: float) -> None:
    """Wait until ``task`` is done or ``seconds`` pass, without cancelling it.

    The same as ``asyncio.wait({task}, timeout=seconds)``, which builds a set, a waiter and
    a callback per call and cost a tenth of a webhook's CPU time.
    """
    if task.done():
        return
    waiter = asyncio.get_running_loop().create_future()

    def release(_: object = None) -> None:
        if not waiter.done():
            waiter.set_result(None)

    timer = asyncio.get_running_loop().call_later(seconds, release)
    task.add_done_callback(release)
    try:
        await waiter
    finally:
        timer.cancel()
        task.remove_done_callback(release)


def _unknown_call(call: params.CallParams) -> Reply:
    log.warning("twilio_call_unknown", call_sid=call.call_sid)
    return Reply(200, hangup_xml())


def session_store(store: SessionStore | KeyValueSessions | None) -> SessionStore:
    """Return ``store`` as a ``SessionStore``, adapting the engine's store if needed."""
    if store is None:
        return MemorySessionStore()
    if hasattr(store, "load_call_session"):
        return cast(SessionStore, store)
    return EngineSessionStore(store)
