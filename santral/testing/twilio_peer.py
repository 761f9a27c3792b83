"""A scripted Twilio: places calls against santral's webhooks and follows the TwiML.

The peer behaves like Twilio's voice platform on the wire. It signs every request as
Twilio does (the ``twilio`` library's ``RequestValidator`` computes the signature over the
public URL) and fetches the Voice URL. It plays the prompts the TwiML names (fetching each
``<Play>`` URL), fills each ``<Gather>`` from the caller's script, follows ``<Redirect>``
and ``<Enqueue waitUrl>``, rings the agents a ``<Dial>`` names, and sends status
callbacks. REST calls made through ``rest_client()`` never reach the network, because the
capturing HTTP client records them and applies them to the peer's calls: call updates,
outbound calls (``Calls.json``), and the Conferences and Participants resources.

Conferences behave as Twilio's ``<Dial><Conference>`` does: a participant that leaves
with ``endConferenceOnExit`` ends the conference for everyone, and each participant's
``<Dial>`` then ends (the caller's action URL is requested). A participant on hold gets
its ``holdUrl`` requested once. The peer links an outbound call to the inbound call
whose CallSid its ``Url`` carries as the ``call`` query parameter (santral's URLs do), so
that the inbound call's transcript shows the ring (``dial``) and the whisper.

Durations in TwiML (pauses, audio, ring and talk time) are multiplied by ``time_scale``,
so 0.01 runs a call 100 times faster. Only URLs under ``public_url`` are requested, always
at ``target_url`` (127.0.0.1).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import secrets
import wave
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from yarl import URL

log = logging.getLogger(__name__)

ACCOUNT = r"/2010-04-01/Accounts/AC[0-9a-f]{32}"
UPDATE_CALL = re.compile(ACCOUNT + r"/Calls/(CA[0-9a-f]{32})\.json$")
CREATE_CALL = re.compile(ACCOUNT + r"/Calls\.json$")
CONFERENCES = re.compile(ACCOUNT + r"/Conferences\.json$")
PARTICIPANT = re.compile(
    ACCOUNT + r"/Conferences/(CF[0-9a-f]{32})/Participants/(CA[0-9a-f]{32})\.json$"
)
# How long a caller may stay in a conference, in call seconds, before the peer ends it.
MAX_CONFERENCE_SECONDS = 3600.0
TERMINAL = ("completed", "busy", "failed", "no-answer", "canceled")


def new_sid(prefix: str) -> str:
    """Return a random Twilio SID such as ``CA`` followed by 32 hex digits."""
    return prefix + secrets.token_hex(16)


@dataclass(frozen=True)
class Speech:
    """A scripted spoken answer to a ``<Gather input="speech">``."""

    text: str
    confidence: float = 0.9


@dataclass(frozen=True)
class Agent:
    """Behaviour of an agent endpoint when a ``<Dial>`` rings it."""

    answer: str = "answer"  # answer, no-answer, busy, failed
    talk_seconds: float = 30.0


@dataclass(frozen=True)
class TranscriptLine:
    """One line of a call's transcript: what the caller heard or did."""

    kind: str  # request, say, play, pause, digits, speech, dial, agent, whisper, rest, error
    value: str
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RestRequest:
    """A REST API request captured by the peer's HTTP client."""

    method: str
    url: str
    data: dict[str, Any]


@dataclass(frozen=True)
class _Fetch:
    url: str
    params: dict[str, str]
    method: str = "POST"


@dataclass(frozen=True)
class _Inline:
    xml: str


_Next = _Fetch | _Inline | None


class PeerError(Exception):
    """The peer was asked to do something Twilio would not do."""


class CapturingHttpClient(HttpClient):  # type: ignore[misc]
    """The ``twilio`` client's HTTP client for tests: records requests, never sends them."""

    def __init__(self, peer: TwilioPeer) -> None:
        super().__init__(logging.getLogger(__name__), is_async=True)
        self._peer = peer
        self.requests: list[RestRequest] = []

    async def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the signature twilio's client calls
        allow_redirects: bool = False,
    ) -> Response:
        method = method.upper()
        fields = dict(data or {}) if method == "POST" else dict(params or {})
        self.requests.append(RestRequest(method, uri, fields))
        if auth is None or auth[1] != self._peer.auth_token:
            return _rest_error(401, 20003, "authentication failed")
        return self._route(method, uri, fields)

    def _route(self, method: str, uri: str, fields: dict[str, object]) -> Response:
        peer = self._peer
        if method == "POST" and (match := UPDATE_CALL.search(uri)):
            return peer.update_call(match.group(1), fields)
        if method == "POST" and CREATE_CALL.search(uri):
            return peer.create_call(fields)
        if method == "GET" and CONFERENCES.search(uri):
            return peer.list_conferences(fields)
        if method in ("POST", "DELETE") and (match := PARTICIPANT.search(uri)):
            conference_sid, call_sid = match.groups()
            if method == "DELETE":
                return peer.remove_participant(conference_sid, call_sid)
            return peer.update_participant(conference_sid, call_sid, fields)
        return _rest_error(404, 20404, f"the peer serves no {method} {uri}")


@dataclass
class PeerParticipant:
    """A call in a conference, as the Participants resource shows it."""

    call: PeerCall
    ends_conference: bool
    hold: bool = False


@dataclass
class PeerConference:
    """A conference in progress: its SID, friendly name and participants by CallSid."""

    sid: str
    name: str
    participants: dict[str, PeerParticipant] = field(default_factory=dict)

    def resource(self, account_sid: str) -> dict[str, object]:
        return {
            "sid": self.sid,
            "account_sid": account_sid,
            "friendly_name": self.name,
            "status": "in-progress",
        }


def _rest_error(status: int, code: int, message: str) -> Response:
    body = {"code": code, "message": message, "status": status}
    return Response(status, json.dumps(body))


class TwilioPeer:
    """The scripted Twilio platform: one account, one number pointing at santral.

    Use as ``async with TwilioPeer(...) as peer``; ``call()`` starts a call, ``agents``
    sets how each endpoint answers (unlisted ones answer).
    """

    def __init__(
        self,
        *,
        target_url: str,
        public_url: str,
        account_sid: str,
        auth_token: str,
        path_prefix: str = "/twilio",
        time_scale: float = 0.001,
        headers: Mapping[str, str] | None = None,
        max_requests_per_call: int = 300,
    ) -> None:
        if URL(target_url).host not in ("127.0.0.1", "localhost", "::1"):
            raise PeerError(f"target_url {target_url} is not on this machine")
        self.target_url = target_url.rstrip("/")
        self.public_url = public_url.rstrip("/")
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.path_prefix = path_prefix
        self.time_scale = time_scale
        self.headers = dict(headers or {})
        self.max_requests_per_call = max_requests_per_call
        self.agents: dict[str, Agent] = {}
        self.calls: dict[str, PeerCall] = {}
        self.legs: dict[str, PeerLeg] = {}
        self.conferences: dict[str, PeerConference] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.http_client = CapturingHttpClient(self)
        self._validator = RequestValidator(auth_token)
        self._session: aiohttp.ClientSession | None = None
        self._audio_seconds: dict[str, float] = {}

    async def __aenter__(self) -> TwilioPeer:
        self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for call in [*self.calls.values(), *self.legs.values()]:
            await call.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    def rest_client(self) -> Client:
        """Return a ``twilio.rest.Client`` whose requests this peer captures."""
        return Client(self.account_sid, self.auth_token, http_client=self.http_client)

    def url(self, path: str) -> str:
        """Return the public URL of ``path`` under the prefix, e.g. ``url("voice")``."""
        return f"{self.public_url}{self.path_prefix}/{path}"

    def call(self, caller: str, called: str, inputs: list[str | Speech | None]) -> PeerCall:
        """Place a call from ``caller`` to ``called``; each Gather takes the next input."""
        call = PeerCall(self, new_sid("CA"), caller, called, list(inputs))
        self.calls[call.sid] = call
        call.start()
        return call

    # Requests to santral

    def sign(self, url: str, params: Mapping[str, str]) -> str:
        """Return the X-Twilio-Signature value Twilio sends for ``url`` and ``params``."""
        return str(self._validator.compute_signature(url, dict(params)))

    async def post(
        self,
        url: str,
        params: Mapping[str, str],
        *,
        signature: str | None = None,
        headers: Mapping[str, str] | None = None,
        method: str = "POST",
    ) -> tuple[int, str]:
        """Send one signed webhook for public ``url``; return the status and body."""
        signed_url = url
        if method == "GET" and params:
            signed_url = f"{url}{'&' if '?' in url else '?'}{_form(params)}"
        sent = {**self.headers, **(headers or {})}
        sent["X-Twilio-Signature"] = (
            self.sign(signed_url, params if method == "POST" else {})
            if signature is None
            else signature
        )
        target = URL(self._target(signed_url), encoded=True)
        session = self._require_session()
        if method == "GET":
            async with session.get(target, headers=sent) as response:
                return response.status, await response.text()
        sent["Content-Type"] = "application/x-www-form-urlencoded"
        async with session.post(target, data=_form(params), headers=sent) as response:
            return response.status, await response.text()

    async def fetch_audio(self, url: str) -> tuple[int, float]:
        """GET a ``<Play>`` URL as Twilio does; return the status and the audio's seconds."""
        if url in self._audio_seconds:
            return 200, self._audio_seconds[url]
        if not url.startswith(self.public_url):
            return 0, 0.0
        headers = {**self.headers, "X-Twilio-Signature": self.sign(url, {})}
        target = URL(self._target(url), encoded=True)
        async with self._require_session().get(target, headers=headers) as response:
            if response.status != 200:
                return response.status, 0.0
            seconds = _wav_seconds(await response.read())
        self._audio_seconds[url] = seconds
        return 200, seconds

    def _target(self, url: str) -> str:
        if not url.startswith(self.public_url):
            raise PeerError(f"{url} is not under the public URL {self.public_url}")
        return self.target_url + url[len(self.public_url) :]

    def _require_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise PeerError("use the peer inside 'async with'")
        return self._session

    # REST

    def update_call(self, call_sid: str, fields: Mapping[str, object]) -> Response:
        """Apply a REST call update (TwiML, URL or status) as Twilio does."""
        call = self.calls.get(call_sid) or self.legs.get(call_sid)
        if call is None or call.ended.is_set():
            return _rest_error(404, 20404, f"call {call_sid} not found")
        call.redirect(fields)
        body = {
            "sid": call_sid,
            "account_sid": self.account_sid,
            "status": "in-progress",
            "from": call.caller,
            "to": call.called,
        }
        return Response(200, json.dumps(body))

    def create_call(self, fields: Mapping[str, object]) -> Response:
        """Place an outbound call (an agent or consult leg) as the Calls API does."""
        to, url = str(fields.get("To", "")), str(fields.get("Url", ""))
        if not to or not url:
            return _rest_error(400, 21201, "To and Url are required")
        parent = self.calls.get(URL(url).query.get("call", ""))
        leg = PeerLeg(self, new_sid("CA"), dict(fields), parent)
        self.legs[leg.sid] = leg
        if parent is not None:
            parent.legs.append(leg)
        leg.start()
        body = {"sid": leg.sid, "account_sid": self.account_sid, "status": "queued", "to": to}
        return Response(201, json.dumps(body))

    def leg_to(self, address: str) -> PeerLeg | None:
        """Return the newest outbound call to ``address`` that is still up, if any."""
        for leg in reversed(list(self.legs.values())):
            if leg.called == address and not leg.ended.is_set():
                return leg
        return None

    def list_conferences(self, query: Mapping[str, object]) -> Response:
        """List conferences in progress, filtered by ``FriendlyName`` as Twilio does."""
        name = query.get("FriendlyName")
        found = [
            conference.resource(self.account_sid)
            for conference in self.conferences.values()
            if name in (None, conference.name)
        ]
        meta = {"key": "conferences", "next_page_url": None, "page": 0, "page_size": 50}
        return Response(200, json.dumps({"conferences": found, "meta": meta}))

    def update_participant(
        self, conference_sid: str, call_sid: str, fields: Mapping[str, object]
    ) -> Response:
        """Apply ``Hold``, ``HoldUrl`` and ``EndConferenceOnExit`` to a participant."""
        conference, participant = self._participant(conference_sid, call_sid)
        if conference is None or participant is None:
            return _rest_error(404, 20404, f"participant {call_sid} not found")
        if "EndConferenceOnExit" in fields:
            participant.ends_conference = fields["EndConferenceOnExit"] == "true"
        if "Hold" in fields:
            self._hold(participant, fields["Hold"] == "true", fields)
        body = {
            "call_sid": call_sid,
            "conference_sid": conference_sid,
            "account_sid": self.account_sid,
            "hold": participant.hold,
            "end_conference_on_exit": participant.ends_conference,
        }
        return Response(200, json.dumps(body))

    def remove_participant(self, conference_sid: str, call_sid: str) -> Response:
        """Remove a participant: its ``<Dial>`` ends, and the conference too if it ends it."""
        conference, participant = self._participant(conference_sid, call_sid)
        if conference is None or participant is None:
            return _rest_error(404, 20404, f"participant {call_sid} not found")
        participant.call.transcript.append(TranscriptLine("conference", "removed"))
        self.leave_conference(conference, call_sid)
        return Response(204, "")

    def _participant(
        self, conference_sid: str, call_sid: str
    ) -> tuple[PeerConference | None, PeerParticipant | None]:
        for conference in self.conferences.values():
            if conference.sid == conference_sid:
                return conference, conference.participants.get(call_sid)
        return None, None

    def _hold(self, participant: PeerParticipant, hold: bool, fields: Mapping[str, object]) -> None:
        participant.hold = hold
        call = participant.call
        call.transcript.append(TranscriptLine("hold", "on" if hold else "off"))
        url = str(fields.get("HoldUrl", ""))
        if hold and url:
            method = str(fields.get("HoldMethod", "GET"))
            self.spawn(call.fetch_hold(url, method))

    def spawn(self, work: Any) -> None:
        """Run ``work`` in the background until it ends or the peer closes."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # Conferences

    def join_conference(self, name: str, call: PeerCall, *, ends: bool) -> PeerConference:
        """Add ``call`` to the conference ``name``, starting one if none is in progress."""
        conference = self.conferences.get(name)
        if conference is None:
            conference = PeerConference(new_sid("CF"), name)
            self.conferences[name] = conference
        conference.participants[call.sid] = PeerParticipant(call, ends)
        return conference

    def leave_conference(self, conference: PeerConference, call_sid: str) -> None:
        """Take ``call_sid`` out of ``conference``; end it if that participant ends it."""
        participant = conference.participants.pop(call_sid, None)
        if participant is None:
            return
        participant.call.wake()
        if participant.ends_conference:
            self.end_conference(conference)

    def end_conference(self, conference: PeerConference) -> None:
        """End ``conference``: every participant's ``<Dial>`` ends."""
        self.conferences.pop(conference.name, None)
        for call_sid in list(conference.participants):
            conference.participants.pop(call_sid).call.wake()


class PeerCall:
    """One call the peer placed: its transcript, its keys, its end."""

    def __init__(
        self,
        peer: TwilioPeer,
        sid: str,
        caller: str,
        called: str,
        inputs: list[str | Speech | None],
    ) -> None:
        self.peer = peer
        self.sid = sid
        self.caller = caller
        self.called = called
        self.inputs = inputs
        self.transcript: list[TranscriptLine] = []
        self.replies: list[tuple[str, int, str]] = []
        self.ended = asyncio.Event()
        self.status = "ringing"
        self.agent_sid = ""
        self.legs: list[PeerLeg] = []
        self._wakeup = asyncio.Event()
        self._pending: _Next = None
        self._caller_hung_up = False
        self._agent_hung_up = False
        self._task: asyncio.Task[None] | None = None
        self._requests = 0
        self.started = asyncio.get_running_loop().time()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"peer-{self.sid}")

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def finished(self) -> None:
        """Wait until the call has ended and santral has replied to its status callback."""
        assert self._task is not None
        await asyncio.shield(self._task)

    def hang_up(self) -> None:
        """Hang up the caller's side at once, whatever the call is doing."""
        self._caller_hung_up = True
        self._wakeup.set()

    def agent_hangs_up(self) -> None:
        """End the agent leg of a connected call; the caller stays on the line.

        In a conference, the first leg of this call that is still in it hangs up.
        """
        self._agent_hung_up = True
        self._wakeup.set()
        for leg in self.legs:
            if leg.in_conference:
                leg.hang_up()
                return

    def wake(self) -> None:
        """Wake the call from a wait so it looks at its conference again."""
        self._wakeup.set()

    async def fetch_hold(self, url: str, method: str) -> None:
        """Request a participant's ``holdUrl`` once, as Twilio does when hold starts."""
        await self._request(url, self._params(), method)

    def redirect(self, fields: Mapping[str, object]) -> None:
        self.transcript.append(TranscriptLine("rest", ",".join(sorted(fields))))
        if fields.get("Status") in ("completed", "canceled"):
            self.hang_up()
            return
        if "Twiml" in fields:
            self._pending = _Inline(str(fields["Twiml"]))
        elif "Url" in fields:
            self._pending = _Fetch(
                str(fields["Url"]), self._params(), str(fields.get("Method", "POST"))
            )
        self._wakeup.set()

    def say_texts(self) -> list[str]:
        """Return the texts of every ``<Say>`` the caller heard, in order."""
        return [entry.value for entry in self.transcript if entry.kind == "say"]

    def requested(self, path_part: str) -> list[TranscriptLine]:
        return [e for e in self.transcript if e.kind == "request" and path_part in e.value]

    # The call's life

    async def _run(self) -> None:
        step: _Next = _Fetch(self.peer.url("voice"), self._params())
        try:
            while step is not None and not self._caller_hung_up:
                step = await self._take(step)
        except PeerError as error:
            self.transcript.append(TranscriptLine("error", str(error)))
        finally:
            await self._end()

    async def _take(self, step: _Fetch | _Inline) -> _Next:
        xml: str | None = step.xml if isinstance(step, _Inline) else None
        if isinstance(step, _Fetch):
            self._requests += 1
            if self._requests > self.peer.max_requests_per_call:
                raise PeerError(
                    f"call {self.sid} exceeded {self.peer.max_requests_per_call} webhook requests"
                )
            xml = await self._request(step.url, step.params, step.method)
        if xml is None:
            return None
        next_step = await self._execute(xml)
        if self._pending is not None:
            next_step, self._pending = self._pending, None
        return next_step

    async def _request(self, url: str, params: dict[str, str], method: str) -> str | None:
        status, text = await self.peer.post(url, params, method=method)
        self.transcript.append(TranscriptLine("request", url, {"status": str(status)}))
        self.replies.append((url, status, text))
        if status != 200:
            self.transcript.append(
                TranscriptLine("error", f"HTTP {status} from {url}: {text[:200]}")
            )
            return None
        return text

    async def _end(self) -> None:
        self.status = "completed"
        self.ended.set()
        params = {
            **self._params(),
            "CallStatus": "completed",
            "CallDuration": str(int(self._elapsed())),
        }
        status, _ = await self.peer.post(self.peer.url("status"), params)
        self.transcript.append(TranscriptLine("status", "completed", {"http": str(status)}))

    def _elapsed(self) -> float:
        return (asyncio.get_running_loop().time() - self.started) / self.peer.time_scale

    def _params(self, **extra: str) -> dict[str, str]:
        params = {
            "AccountSid": self.peer.account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": self.sid,
            "CallStatus": self.status,
            "Called": self.called,
            "Caller": self.caller,
            "Direction": "inbound",
            "From": self.caller,
            "To": self.called,
        }
        params.update(extra)
        return params

    async def _wait(self, seconds: float) -> bool:
        """Wait ``seconds`` of call time; return True if a REST update or hang-up came."""
        if self._pending is not None or self._caller_hung_up:
            return True
        self._wakeup.clear()
        try:
            await asyncio.wait_for(self._wakeup.wait(), seconds * self.peer.time_scale)
        except TimeoutError:
            return False
        return True

    # TwiML

    async def _execute(self, xml: str) -> _Next:
        try:
            root = ET.fromstring(xml)
        except ET.ParseError as error:
            raise PeerError(f"TwiML is not XML: {error}") from None
        if root.tag != "Response":
            raise PeerError(f"TwiML root is <{root.tag}>, expected <Response>")
        self.status = "in-progress"
        for verb in root:
            if self._interrupted():
                return None
            outcome = await self._verb(verb)
            if outcome is not _CONTINUE:
                return outcome  # type: ignore[return-value]
        return None

    def _interrupted(self) -> bool:
        return self._pending is not None or self._caller_hung_up

    async def _verb(self, verb: ET.Element) -> object:
        name = _VERBS.get(verb.tag)
        if name is None:
            raise PeerError(f"unknown TwiML verb <{verb.tag}>")
        handler: Callable[[ET.Element], Awaitable[object]] = getattr(self, name)
        return await handler(verb)

    async def _say(self, verb: ET.Element) -> object:
        self.transcript.append(TranscriptLine("say", verb.text or "", dict(verb.attrib)))
        await self._wait(0.06 * len(verb.text or ""))
        return _CONTINUE

    async def _play(self, verb: ET.Element) -> object:
        url = (verb.text or "").strip()
        status, seconds = await self.peer.fetch_audio(url)
        self.transcript.append(TranscriptLine("play", url, {"status": str(status)}))
        await self._wait(seconds)
        return _CONTINUE

    async def _pause(self, verb: ET.Element) -> object:
        seconds = float(verb.get("length", "1"))
        self.transcript.append(TranscriptLine("pause", str(seconds)))
        await self._wait(seconds)
        return _CONTINUE

    async def _hangup(self, verb: ET.Element) -> object:
        self.transcript.append(TranscriptLine("hangup", ""))
        return None

    async def _redirect(self, verb: ET.Element) -> object:
        return _Fetch((verb.text or "").strip(), self._params(), verb.get("method", "POST"))

    async def _gather(self, verb: ET.Element) -> object:
        for child in verb:
            await self._verb(child)
            if self._interrupted():
                return None
        entry = self.inputs.pop(0) if self.inputs else None
        if entry is None and not await self._wait(float(verb.get("timeout", "5"))):
            entry = None
        if self._interrupted():
            return None
        params = self._gather_params(verb, entry)
        if params is None:
            if verb.get("actionOnEmptyResult") != "true":
                return _CONTINUE
            params = {"Digits": ""}
        return _Fetch(verb.get("action", ""), self._params(**params), verb.get("method", "POST"))

    def _gather_params(self, verb: ET.Element, entry: str | Speech | None) -> dict[str, str] | None:
        if isinstance(entry, Speech):
            self.transcript.append(TranscriptLine("speech", entry.text))
            return {"SpeechResult": entry.text, "Confidence": str(entry.confidence)}
        if not entry:
            return None
        finish = verb.get("finishOnKey", "#")
        limit = int(verb.get("numDigits", "0") or 0)
        digits, finished_on = entry, ""
        if finish and finish in entry:
            digits, finished_on = entry.split(finish, 1)[0], finish
        if limit and len(digits) > limit:
            digits, finished_on = digits[:limit], ""
        self.transcript.append(TranscriptLine("digits", digits, {"finished_on_key": finished_on}))
        return {"Digits": digits, "FinishedOnKey": finished_on}

    async def _record(self, verb: ET.Element) -> object:
        recording = new_sid("RE")
        url = f"https://api.twilio.com/2010-04-01/Accounts/{self.peer.account_sid}/Recordings/{recording}"
        params = {
            "RecordingUrl": url,
            "RecordingSid": recording,
            "RecordingDuration": "3",
            "Digits": verb.get("finishOnKey", "#")[:1] or "hangup",
        }
        return _Fetch(verb.get("action", ""), self._params(**params), verb.get("method", "POST"))

    async def _enqueue(self, verb: ET.Element) -> object:
        wait_url = verb.get("waitUrl", "")
        for position in range(self.peer.max_requests_per_call):
            if self._interrupted() or not wait_url:
                return None
            params = self._params(
                QueuePosition="1", QueueTime=str(position), QueueSid=new_sid("QU")
            )
            xml = await self._request(wait_url, params, verb.get("waitUrlMethod", "POST"))
            if xml is None or "<Leave" in xml:
                break
            await self._execute(xml)
        action = verb.get("action")
        return _Fetch(action, self._params(QueueResult="leave")) if action else _CONTINUE

    async def _dial(self, verb: ET.Element) -> object:
        noun = next(iter(verb), None)
        if noun is not None and noun.tag == "Conference":
            return await self._conference(verb, noun)
        address = _address(noun) if noun is not None else (verb.text or "").strip()
        agent = self.peer.agents.get(address, Agent())
        self.transcript.append(TranscriptLine("dial", address, {"answer": agent.answer}))
        timeout = float(verb.get("timeout", "30"))
        if agent.answer == "answer":
            status, duration = await self._agent_answers(noun, agent)
        else:
            if agent.answer == "no-answer" and await self._wait(timeout):
                return None
            status, duration = agent.answer, 0.0
        if self._interrupted():
            return None
        action = verb.get("action")
        if not action:
            return _CONTINUE
        params = self._params(
            DialCallStatus=status, DialCallSid=self.agent_sid, DialCallDuration=str(int(duration))
        )
        return _Fetch(action, params, verb.get("method", "POST"))

    async def _agent_answers(self, noun: ET.Element | None, agent: Agent) -> tuple[str, float]:
        self.agent_sid = new_sid("CA")
        self._agent_hung_up = False
        if noun is not None and noun.get("url"):
            xml = await self._request(
                noun.get("url", ""), self._agent_params("in-progress"), "POST"
            )
            if xml:
                self.transcript.extend(
                    TranscriptLine("whisper", e.text or "") for e in ET.fromstring(xml)
                )
        await self._agent_status(noun, "in-progress", "answered")
        self.transcript.append(TranscriptLine("agent", "answered"))
        began = asyncio.get_running_loop().time()
        while not self._agent_hung_up and not self._interrupted():
            if not await self._wait(agent.talk_seconds):
                break
        talked = (asyncio.get_running_loop().time() - began) / self.peer.time_scale
        await self._agent_status(noun, "completed", "completed")
        return "completed", talked

    async def _agent_status(self, noun: ET.Element | None, status: str, event: str) -> None:
        if noun is None or not noun.get("statusCallback"):
            return
        if event not in noun.get("statusCallbackEvent", "completed").split():
            return
        await self._request(noun.get("statusCallback", ""), self._agent_params(status), "POST")

    async def _conference(self, verb: ET.Element, noun: ET.Element) -> object:
        name = (noun.text or "").strip()
        ends = noun.get("endConferenceOnExit") == "true"
        conference = self.peer.join_conference(name, self, ends=ends)
        self.transcript.append(TranscriptLine("conference", name, dict(noun.attrib)))
        if not await self._stay_in(conference):
            self.peer.leave_conference(conference, self.sid)
        if self._interrupted():
            return None
        action = verb.get("action")
        if not action:
            return _CONTINUE
        return _Fetch(action, self._params(DialCallStatus="completed"), verb.get("method", "POST"))

    async def _stay_in(self, conference: PeerConference) -> bool:
        """Wait in ``conference``; True if it removed this call, False if the call left."""
        loop = asyncio.get_running_loop()
        limit = self._talk_seconds()
        began = loop.time()
        for _ in range(self.peer.max_requests_per_call):
            if self.sid not in conference.participants:
                return True
            if self._interrupted():
                return False
            remaining = limit - (loop.time() - began) / self.peer.time_scale
            if remaining <= 0 or not await self._wait(remaining):
                self._talk_ended()
                return False
        return False

    def _talk_seconds(self) -> float:
        return MAX_CONFERENCE_SECONDS

    def _talk_ended(self) -> None:
        """Act on the end of the call's time in a conference: a caller only leaves it."""

    def _agent_params(self, status: str) -> dict[str, str]:
        return {
            **self._params(),
            "CallSid": self.agent_sid,
            "ParentCallSid": self.sid,
            "CallStatus": status,
            "Direction": "outbound-dial",
        }


class PeerLeg(PeerCall):
    """An outbound call placed through the Calls API: it rings, answers, joins, hangs up.

    How it answers comes from ``peer.agents`` keyed by its ``To``. Status callbacks go to
    its ``StatusCallback`` for the events in ``StatusCallbackEvent``.
    """

    def __init__(
        self, peer: TwilioPeer, sid: str, fields: dict[str, object], parent: PeerCall | None
    ) -> None:
        to, caller = str(fields["To"]), str(fields.get("From", ""))
        super().__init__(peer, sid, caller, to, [])
        self.parent = parent
        self.status = "queued"
        self.answered = False
        self._fields = fields
        self._agent = peer.agents.get(to, Agent())

    @property
    def in_conference(self) -> bool:
        return any(self.sid in c.participants for c in self.peer.conferences.values())

    async def _run(self) -> None:
        agent = self._agent
        if self.parent is not None:
            self.parent.transcript.append(
                TranscriptLine("dial", self.called, {"answer": agent.answer})
            )
        self.status = "ringing"
        try:
            if agent.answer != "answer":
                await self._miss(agent.answer)
                return
            await self._answer()
        except PeerError as error:
            self.transcript.append(TranscriptLine("error", str(error)))
        finally:
            await self._end()

    async def _miss(self, outcome: str) -> None:
        if outcome == "no-answer":
            await self._wait(float(str(self._fields.get("Timeout", "60"))))
        self.status = "canceled" if self._caller_hung_up else outcome

    async def _answer(self) -> None:
        self.status = "in-progress"
        self.answered = True
        await self._callback("answered")
        method = str(self._fields.get("Method", "POST"))
        step: _Next = _Fetch(str(self._fields["Url"]), self._params(), method)
        while step is not None and not self._caller_hung_up:
            step = await self._take(step)
        self.status = "completed"

    async def _end(self) -> None:
        if self._caller_hung_up and not self.answered:
            self.status = "canceled"
        elif self.answered:
            self.status = "completed"
        self.ended.set()
        await self._callback("completed", CallDuration=str(int(self._elapsed())))

    async def _callback(self, event: str, **extra: str) -> None:
        url = str(self._fields.get("StatusCallback", ""))
        events = self._fields.get("StatusCallbackEvent", "completed")
        names = events if isinstance(events, list) else str(events).split()
        if not url or event not in names:
            return
        status, _ = await self.peer.post(url, self._params(**extra))
        self.transcript.append(TranscriptLine("status", self.status, {"http": str(status)}))

    def _params(self, **extra: str) -> dict[str, str]:
        params = super()._params(Direction="outbound-api")
        params.update(extra)
        return params

    async def _say(self, verb: ET.Element) -> object:
        if self.parent is not None:
            self.parent.transcript.append(TranscriptLine("whisper", verb.text or ""))
        return await super()._say(verb)

    def _talk_seconds(self) -> float:
        return self._agent.talk_seconds

    def _talk_ended(self) -> None:
        self.hang_up()


_CONTINUE = object()
_VERBS = {
    "Say": "_say",
    "Play": "_play",
    "Pause": "_pause",
    "Hangup": "_hangup",
    "Redirect": "_redirect",
    "Gather": "_gather",
    "Record": "_record",
    "Enqueue": "_enqueue",
    "Dial": "_dial",
}


def _address(noun: ET.Element) -> str:
    text = (noun.text or "").strip()
    if noun.tag == "Client":
        return f"client:{text}"
    return text


def _form(params: Mapping[str, str]) -> str:
    from urllib.parse import urlencode

    return urlencode(list(params.items()))


def _wav_seconds(data: bytes) -> float:
    try:
        with wave.open(io.BytesIO(data), "rb") as reader:
            return reader.getnframes() / float(reader.getframerate())
    except (wave.Error, EOFError):
        return 0.0
