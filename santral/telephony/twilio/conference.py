"""The TwiML and REST parameters of an agent bridge through a Twilio conference, without I/O.

The caller and every agent leg meet in one conference per call, named after the caller's
CallSid. santral places agent and consult legs with the Calls API, and each leg's TwiML
(requested when it answers) joins it to that conference. Who may end the conference is
set per participant with ``endConferenceOnExit``:

* the caller: yes, so that the agent's leg ends when the caller hangs up;
* the agent: yes, so that the caller's ``<Dial>`` ends when the agent leaves and Twilio
  requests its action URL, where the dialplan continues (a survey, a goodbye);
* a consulted party: no, until the agent completes the transfer to it. Then it becomes
  the agent leg and gets ``endConferenceOnExit`` through the Participants API.

Attribute names follow Twilio's TwiML ``<Conference>`` noun and the Calls and
Participants resources of API version 2010-04-01.
"""

from __future__ import annotations

from twilio.twiml.voice_response import Dial, VoiceResponse

from santral.telephony.twilio.twiml import Urls

CONFERENCE_PREFIX = "santral-"
# Twilio accepts a ring timeout between 5 and 600 seconds for a participant's call.
MIN_RING_SECONDS = 5
MAX_RING_SECONDS = 600
LEG_EVENTS = ["answered", "completed"]


def conference_name(call_sid: str) -> str:
    """Return the friendly name of the conference that bridges the call ``call_sid``."""
    return CONFERENCE_PREFIX + call_sid


def ring_seconds(ring_timeout: float) -> int:
    """Return ``ring_timeout`` as the whole seconds Twilio accepts for a call's ``Timeout``."""
    return min(MAX_RING_SECONDS, max(MIN_RING_SECONDS, round(ring_timeout)))


def call_address(address: str) -> str:
    """Return an agent endpoint as the Calls API's ``To``: number, SIP URI or ``client:``.

    ``sip:`` and ``sips:`` URIs and ``client:NAME`` stay as they are, anything made of
    ``+``, digits, spaces and dashes is a number (separators removed), and any other bare
    name is a Twilio Client identity.
    """
    if address.startswith(("sip:", "sips:", "client:")):
        return address
    digits = address.replace(" ", "").replace("-", "")
    if digits.removeprefix("+").isdigit():
        return digits
    return f"client:{address}"


def caller_conference_xml(urls: Urls, call_sid: str, step: int, attempt: str) -> str:
    """Return the TwiML that moves the caller into the call's conference.

    The ``<Dial>`` action is requested when the conference ends, which happens when the
    agent leaves it, so the IVR continues there.
    """
    dial = Dial(action=urls.at("agent-ended", step=step, attempt=attempt), method="POST")
    _add_conference(dial, urls, call_sid, ends_conference=True)
    return _response(dial)


def leg_conference_xml(
    urls: Urls, call_sid: str, *, ends_conference: bool, whisper: str = "", **say: str
) -> str:
    """Return the TwiML of an answered agent or consult leg: a whisper, then the conference."""
    response = VoiceResponse()
    if whisper:
        response.say(whisper, **say)
    dial = Dial()
    _add_conference(dial, urls, call_sid, ends_conference=ends_conference)
    response.append(dial)
    return str(response.to_xml())


def hold_music_xml(urls: Urls, music_parts: int, pause_seconds: int) -> str:
    """Return the TwiML Twilio plays to a participant on hold: the music, then again.

    Without hold music the participant hears ``pause_seconds`` of silence per round.
    """
    response = VoiceResponse()
    for part in range(music_parts):
        response.play(urls.at(f"music/{part}.wav"))
    if music_parts == 0:
        response.pause(length=pause_seconds)
    response.redirect(urls.at("hold-music"), method="POST")
    return str(response.to_xml())


def _add_conference(dial: Dial, urls: Urls, call_sid: str, *, ends_conference: bool) -> None:
    dial.conference(
        conference_name(call_sid),
        beep=False,
        start_conference_on_enter=True,
        end_conference_on_exit=ends_conference,
        wait_url=urls.at("hold-music"),
        wait_method="POST",
    )


def _response(dial: Dial) -> str:
    response = VoiceResponse()
    response.append(dial)
    return str(response.to_xml())
