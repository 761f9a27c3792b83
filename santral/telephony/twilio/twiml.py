"""TwiML rendering of IVR actions, without I/O.

One webhook reply carries every media action the IVR returned, and the IVR's next event
is the result of the last of them (``CallFlow.handle``). So each reply ends in the verb that brings
Twilio back to santral: the ``action`` of a ``<Gather>`` or ``<Record>``, a ``<Redirect>``
after plain prompts, the wait loop after an ``Enqueue``.

Twilio quirks handled here (Twilio voice TwiML reference, checked against twilio 9.13):
a ``<Gather>`` that times out with nothing pressed does not request its action URL and
goes on with the next verb, and so does a ``<Record>`` that captured nothing; both are
therefore followed by a ``<Redirect>`` that reports "no input".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from ivr.actions import (
    Action,
    Enqueue,
    Hangup,
    Play,
    Prompt,
    Record,
    Transfer,
)
from ivr.actions import Gather as GatherAction

PromptExists = Callable[[str, str], bool]

# Rendering through ``VoiceResponse`` costs more than the rest of a webhook, and IVR steps
# repeat, so replies are cached per action list with this marker in place of the step.
STEP_MARKER = "0000000000"
CACHE_SIZE = 1024


@dataclass(frozen=True)
class Urls:
    """Absolute URLs of santral's Twilio endpoints, as Twilio must request them."""

    base: str  # public URL plus the path prefix, e.g. https://voice.example.com/twilio

    def at(self, path: str, **query: str | int) -> str:
        """Return ``base/path`` with ``query`` in the given order."""
        url = f"{self.base}/{path}"
        if not query:
            return url
        pairs = "&".join(f"{name}={quote(str(value), safe='')}" for name, value in query.items())
        return f"{url}?{pairs}"

    def prompt(self, language: str, name: str) -> str:
        return f"{self.base}/prompts/{quote(language, safe='')}/{quote(name, safe='')}.wav"


@dataclass(frozen=True)
class Voice:
    """Settings of ``<Say>``: Twilio language codes and voices per santral language."""

    languages: dict[str, str] = field(default_factory=dict)
    voices: dict[str, str] = field(default_factory=dict)

    def say_attributes(self, language: str) -> dict[str, str]:
        attributes = {"language": self.languages.get(language, language)}
        if language in self.voices:
            attributes["voice"] = self.voices[language]
        return attributes


@dataclass(frozen=True)
class Rendered:
    """A TwiML document and what the call waits for after it."""

    xml: str
    awaits: str  # prompt_finished, gather, record, queue, transfer, hangup


@dataclass(frozen=True)
class Renderer:
    """Turns IVR actions into TwiML for one engine."""

    urls: Urls
    voice: Voice
    prompt_exists: PromptExists
    cache: dict[str, Rendered] = field(default_factory=dict, compare=False, repr=False)

    def render(self, actions: Sequence[Action], step: int) -> Rendered:
        """Render ``actions`` in order; the last one decides how Twilio comes back.

        NOTE: whether a prompt's recording exists is checked when an action list is first
        rendered; call ``cache.clear()`` after changing the recordings.
        """
        key = repr(actions)
        template = self.cache.get(key)
        if template is None:
            template = self._render(actions, STEP_MARKER)
            if len(self.cache) >= CACHE_SIZE:
                self.cache.clear()
            self.cache[key] = template
        xml = template.xml.replace(f"step={STEP_MARKER}", f"step={step}")
        return Rendered(xml=xml, awaits=template.awaits)

    def _render(self, actions: Sequence[Action], step: int | str) -> Rendered:
        response = VoiceResponse()
        awaits = "hangup"
        for index, action in enumerate(actions):
            last = index == len(actions) - 1
            awaits = self._add_action(response, action, step, last) or awaits
        if awaits == "hangup" and not _ends_call(actions):
            response.hangup()
        return Rendered(xml=response.to_xml(), awaits=awaits)

    def add_prompts(self, parent: VoiceResponse | Gather, prompts: Sequence[Prompt]) -> None:
        """Add ``<Play>``, ``<Say>`` or ``<Pause>`` for each prompt to ``parent``."""
        for prompt in prompts:
            self._add_prompt(parent, prompt)

    def _add_action(
        self, response: VoiceResponse, action: Action, step: int | str, last: bool
    ) -> str | None:
        if isinstance(action, Play):
            self.add_prompts(response, action.prompts)
            if not last:
                return None
            response.redirect(self.urls.at("event", step=step, kind="prompt_finished"))
            return "prompt_finished"
        if isinstance(action, GatherAction):
            self._add_gather(response, action, step)
            return "gather"
        if isinstance(action, Record):
            self._add_record(response, action, step)
            return "record"
        if isinstance(action, Transfer):
            response.append(self.transfer_dial(action, step))
            return "transfer"
        if isinstance(action, Hangup):
            response.hangup()
            return "hangup"
        if isinstance(action, Enqueue):
            response.redirect(self.urls.at("queue", step=step))
            return "queue"
        return None

    def _add_gather(self, response: VoiceResponse, action: GatherAction, step: int | str) -> None:
        if not action.barge_in:
            self.add_prompts(response, action.prompts)
        gather = response.gather(
            input="dtmf speech" if action.speech else "dtmf",
            action=self.urls.at("gather", step=step),
            method="POST",
            num_digits=action.max_digits,
            # NOTE: Twilio has one timeout for the first key and between keys. santral's
            # inter-digit timeout cannot be set apart, so the longer of the two is used.
            timeout=_seconds(max(action.timeout, action.inter_digit_timeout)),
            finish_on_key=action.terminator,
            action_on_empty_result=False,
            language=self.voice.languages.get(action.language, action.language)
            if action.speech
            else None,
        )
        if action.barge_in:
            self.add_prompts(gather, action.prompts)
        response.redirect(self.urls.at("gather", step=step, empty=1))

    def _add_record(self, response: VoiceResponse, action: Record, step: int | str) -> None:
        self.add_prompts(response, action.prompts)
        response.record(
            action=self.urls.at("record", step=step),
            method="POST",
            max_length=_seconds(action.max_length),
            finish_on_key=action.finish_on_key,
            play_beep=action.beep,
        )
        response.redirect(self.urls.at("record", step=step, empty=1))

    def transfer_dial(self, action: Transfer, step: int | str) -> Dial:
        """Return a ``<Dial>`` that hands the call to ``action.target``."""
        dial = Dial(action=self.urls.at("transfer", step=step), timeout=_seconds(action.timeout))
        add_endpoint(dial, action.target)
        return dial

    def _add_prompt(self, parent: VoiceResponse | Gather, prompt: Prompt) -> None:
        say = self.voice.say_attributes(prompt.language)
        if prompt.type == "file":
            if self.prompt_exists(prompt.language, prompt.value):
                parent.play(self.urls.prompt(prompt.language, prompt.value))
            elif prompt.text:
                parent.say(prompt.text, **say)
        elif prompt.type == "silence":
            parent.pause(length=_seconds(_float(prompt.value, 1.0)))
        elif prompt.type == "digits":
            parent.say(" ".join(prompt.value), **say)
        elif prompt.value:
            parent.say(prompt.value, **say)


def add_endpoint(dial: Dial, address: str, **attributes: str) -> None:
    """Add the noun for ``address`` to ``dial``: ``<Sip>``, ``<Number>`` or ``<Client>``.

    ``sip:`` and ``sips:`` URIs dial SIP, ``client:NAME`` and bare names dial a Twilio
    Client identity, and anything made of ``+``, digits and separators dials a number.
    """
    if address.startswith(("sip:", "sips:")):
        dial.sip(address, **attributes)
    elif address.startswith("client:"):
        dial.client(address.removeprefix("client:"), **attributes)
    elif _is_phone_number(address):
        dial.number(address, **attributes)
    else:
        dial.client(address, **attributes)


def _is_phone_number(address: str) -> bool:
    digits = address.replace(" ", "").replace("-", "")
    return digits.removeprefix("+").isdigit()


def _ends_call(actions: Sequence[Action]) -> bool:
    return bool(actions) and isinstance(actions[-1], Hangup)


def _seconds(value: float) -> int:
    return max(1, math.ceil(value))


def _float(value: str, default: float) -> float:
    try:
        return float(value)
    except ValueError:
        return default
