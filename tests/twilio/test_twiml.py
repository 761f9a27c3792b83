"""TwiML rendering of IVR actions."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from twilio.twiml.voice_response import Dial

from ivr.actions import (
    Enqueue,
    Gather,
    Hangup,
    PauseRecording,
    Play,
    Prompt,
    Record,
    Transfer,
)
from santral.telephony.twilio.twiml import Renderer, Urls, Voice, add_endpoint

BASE = "https://voice.example.test/twilio"


def renderer() -> Renderer:
    voice = Voice({"en": "en-US", "tr": "tr-TR"}, {"tr": "Polly.Filiz"})
    return Renderer(Urls(BASE), voice, lambda language, name: name == "welcome")


def verbs(xml: str) -> list[ET.Element]:
    root = ET.fromstring(xml)
    assert root.tag == "Response"
    return list(root)


def test_play_of_existing_recording_and_redirect() -> None:
    rendered = renderer().render([Play(prompts=[Prompt(type="file", value="welcome")])], 4)
    play, redirect = verbs(rendered.xml)
    assert play.tag == "Play"
    assert play.text == f"{BASE}/prompts/en/welcome.wav"
    assert redirect.text == f"{BASE}/event?step=4&kind=prompt_finished"
    assert rendered.awaits == "prompt_finished"


def test_missing_recording_falls_back_to_text() -> None:
    prompt = Prompt(type="file", value="closed", text="We are closed.", language="tr")
    say, _ = verbs(renderer().render([Play(prompts=[prompt])], 1).xml)
    assert say.tag == "Say"
    assert say.text == "We are closed."
    assert say.get("language") == "tr-TR"
    assert say.get("voice") == "Polly.Filiz"


def test_missing_recording_without_text_is_skipped() -> None:
    (redirect,) = verbs(renderer().render([Play(prompts=[Prompt(type="file", value="x")])], 1).xml)
    assert redirect.tag == "Redirect"


def test_digits_silence_and_number_prompts() -> None:
    prompts = [
        Prompt(type="digits", value="123"),
        Prompt(type="silence", value="1.5"),
        Prompt(type="number", value="42"),
    ]
    said, pause, number, _ = verbs(renderer().render([Play(prompts=prompts)], 1).xml)
    assert said.text == "1 2 3"
    assert pause.get("length") == "2"
    assert number.text == "42"


def test_gather_attributes_follow_node() -> None:
    gather = Gather(
        prompts=[Prompt(type="tts", value="Account number?")],
        max_digits=11,
        timeout=8.0,
        inter_digit_timeout=5.0,
        terminator="#",
    )
    rendered = renderer().render([gather], 7)
    element, redirect = verbs(rendered.xml)
    assert element.get("action") == f"{BASE}/gather?step=7"
    assert element.get("numDigits") == "11"
    assert element.get("timeout") == "8"
    assert element.get("finishOnKey") == "#"
    assert element.get("input") == "dtmf"
    assert element.get("actionOnEmptyResult") == "false"
    assert [child.tag for child in element] == ["Say"]
    assert redirect.text == f"{BASE}/gather?step=7&empty=1"
    assert rendered.awaits == "gather"


def test_gather_without_barge_in_plays_first() -> None:
    gather = Gather(prompts=[Prompt(type="tts", value="Listen.")], barge_in=False)
    say, element, _ = verbs(renderer().render([gather], 1).xml)
    assert say.tag == "Say"
    assert list(element) == []


def test_speech_gather_sets_language() -> None:
    gather = Gather(prompts=[], speech=True, language="tr")
    element, _ = verbs(renderer().render([gather], 1).xml)
    assert element.get("input") == "dtmf speech"
    assert element.get("language") == "tr-TR"


def test_prompts_before_gather_have_no_redirect() -> None:
    actions = [Play(prompts=[Prompt(type="tts", value="Hello.")]), Gather(prompts=[])]
    tags = [verb.tag for verb in verbs(renderer().render(actions, 2).xml)]
    assert tags == ["Say", "Gather", "Redirect"]


def test_record_and_its_empty_redirect() -> None:
    record = Record(name="vm-1", max_length=120.0, beep=True, finish_on_key="#")
    element, redirect = verbs(renderer().render([record], 3).xml)
    assert element.tag == "Record"
    assert element.get("maxLength") == "120"
    assert element.get("playBeep") == "true"
    assert redirect.text == f"{BASE}/record?step=3&empty=1"


def test_hangup_after_prompt() -> None:
    actions = [Play(prompts=[Prompt(type="tts", value="Bye.")]), Hangup()]
    rendered = renderer().render(actions, 9)
    assert [verb.tag for verb in verbs(rendered.xml)] == ["Say", "Hangup"]
    assert rendered.awaits == "hangup"


def test_empty_actions_hang_up() -> None:
    assert [verb.tag for verb in verbs(renderer().render([], 1).xml)] == ["Hangup"]


def test_transfer_dials_target() -> None:
    rendered = renderer().render([Transfer(target="sip:desk@pbx.example.test", timeout=25)], 5)
    (dial,) = verbs(rendered.xml)
    assert dial.get("action") == f"{BASE}/transfer?step=5"
    assert dial.get("timeout") == "25"
    assert [(child.tag, child.text) for child in dial] == [("Sip", "sip:desk@pbx.example.test")]


def test_enqueue_enters_wait_loop() -> None:
    rendered = renderer().render([Enqueue(queue="billing")], 6)
    (redirect,) = verbs(rendered.xml)
    assert redirect.text == f"{BASE}/queue?step=6"
    assert rendered.awaits == "queue"


def test_pause_recording_renders_nothing() -> None:
    actions = [PauseRecording(paused=True), Gather(prompts=[])]
    assert [verb.tag for verb in verbs(renderer().render(actions, 1).xml)] == [
        "Gather",
        "Redirect",
    ]


def test_cached_render_changes_only_step() -> None:
    shared = renderer()
    actions = [Gather(prompts=[Prompt(type="tts", value="Menu.")])]
    first = shared.render(actions, 1).xml
    second = shared.render(actions, 22).xml
    assert first.replace("step=1", "step=22") == second
    assert len(shared.cache) == 1


@pytest.mark.parametrize(
    ("address", "noun", "text"),
    [
        ("client:alice", "Client", "alice"),
        ("alice", "Client", "alice"),
        ("+15005550006", "Number", "+15005550006"),
        ("+1 500-555-0006", "Number", "+1 500-555-0006"),
        ("sip:alice@pbx.example.test", "Sip", "sip:alice@pbx.example.test"),
        ("sips:alice@pbx.example.test", "Sip", "sips:alice@pbx.example.test"),
    ],
)
def test_endpoint_nouns(address: str, noun: str, text: str) -> None:
    dial = Dial()
    add_endpoint(dial, address)
    (child,) = list(ET.fromstring(dial.to_xml(xml_declaration=False)))
    assert child.tag == noun
    assert child.text == text
