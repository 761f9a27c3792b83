"""Single webhooks against the connector: signatures, malformed input, retries, media."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from ivr.actions import DigitsCollected
from santral.telephony.base import AgentEndpoint, AgentLegResult
from santral.telephony.twilio import MemorySessionStore, TwilioSetupError
from santral.telephony.twilio.routes import WEBHOOKS
from santral.testing.twilio_peer import Agent, TwilioPeer, new_sid
from tests.twilio.conftest import Rig, make_connector, serve
from tests.twilio.flows import MenuFlow
from tests.twilio.wire import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL

HOOKS = list(WEBHOOKS)


def call_params(sid: str, **extra: str) -> dict[str, str]:
    params = {
        "AccountSid": ACCOUNT_SID,
        "CallSid": sid,
        "CallStatus": "ringing",
        "From": "+447700900123",
        "To": "+442071234567",
        "Direction": "inbound",
    }
    params.update(extra)
    return params


async def started_call(rig: Rig) -> str:
    sid = new_sid("CA")
    status, body = await rig.peer.post(rig.peer.url("voice"), call_params(sid))
    assert status == 200
    assert 'action="https://voice.example.test/twilio/gather?step=1"' in body
    return sid


async def test_bad_signature_is_forbidden_and_logged(rig: Rig) -> None:
    with capture_logs() as logs:
        status, _ = await rig.peer.post(
            rig.peer.url("voice"), call_params(new_sid("CA")), signature="bm9wZQ=="
        )
    assert status == 403
    assert [entry["event"] for entry in logs] == ["twilio_signature_invalid"]
    assert rig.flow.started == []


async def test_missing_signature_is_forbidden(rig: Rig) -> None:
    status, _ = await rig.peer.post(rig.peer.url("voice"), call_params(new_sid("CA")), signature="")
    assert status == 403


async def test_signature_for_other_host_is_forbidden(rig: Rig) -> None:
    params = call_params(new_sid("CA"))
    signature = rig.peer.sign("http://127.0.0.1:8080/twilio/voice", params)
    status, _ = await rig.peer.post(rig.peer.url("voice"), params, signature=signature)
    assert status == 403


async def test_other_account_is_forbidden(rig: Rig) -> None:
    params = call_params(new_sid("CA"), AccountSid="AC" + "00" * 16)
    status, _ = await rig.peer.post(rig.peer.url("voice"), params)
    assert status == 403


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"AccountSid": ACCOUNT_SID}, 400),
        ({"AccountSid": ACCOUNT_SID, "CallSid": "CA1"}, 400),
        ({"CallSid": "CA" + "ab" * 16}, 400),
    ],
)
async def test_malformed_voice_webhook_is_bad_request(
    rig: Rig, params: dict[str, str], status: int
) -> None:
    got, _ = await rig.peer.post(rig.peer.url("voice"), params)
    assert got == status


async def test_wrong_content_type_is_rejected(rig: Rig) -> None:
    session = rig.peer._require_session()
    async with session.post(
        f"{rig.base_url}/twilio/voice",
        data=b'{"CallSid": 1}',
        headers={"Content-Type": "application/json"},
    ) as response:
        assert response.status == 415


async def test_oversized_body_is_rejected(rig: Rig) -> None:
    session = rig.peer._require_session()
    body = b"x=" + b"a" * (70 * 1024)
    async with session.post(
        f"{rig.base_url}/twilio/voice",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ) as response:
        assert response.status == 413


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    hook=st.sampled_from(HOOKS),
    extra=st.dictionaries(
        st.sampled_from(
            [
                "Digits",
                "CallStatus",
                "DialCallStatus",
                "Confidence",
                "SpeechResult",
                "RecordingDuration",
                "SequenceNumber",
                "FinishedOnKey",
                "CallSid",
            ]
        ),
        st.text(max_size=12),
        max_size=4,
    ),
    query=st.sampled_from(["", "?step=1", "?step=x&empty=1", "?attempt=&call=", "?kind=zzz"]),
)
async def test_signed_odd_webhooks_never_fail_with_500(
    rig: Rig, hook: str, extra: dict[str, str], query: str
) -> None:
    params = call_params("CA" + "12" * 16, **extra)
    status, _ = await rig.peer.post(rig.peer.url(hook) + query, params)
    assert status < 500


async def test_empty_and_missing_digits_mean_no_input(rig: Rig) -> None:
    first = await started_call(rig)
    second = await started_call(rig)
    params_empty = call_params(first, CallStatus="in-progress", Digits="", FinishedOnKey="")
    params_missing = call_params(second, CallStatus="in-progress")
    assert (await rig.peer.post(rig.peer.url("gather?step=1"), params_empty))[0] == 200
    assert (await rig.peer.post(rig.peer.url("gather?step=1"), params_missing))[0] == 200
    no_input = DigitsCollected(digits="", reason="no_input")
    assert rig.flow.events == [(first, no_input), (second, no_input)]


async def test_retried_gather_is_handled_once(rig: Rig) -> None:
    sid = await started_call(rig)
    params = call_params(sid, CallStatus="in-progress", Digits="1")
    first = await rig.peer.post(rig.peer.url("gather?step=1"), params)
    again = await rig.peer.post(rig.peer.url("gather?step=1"), params)
    assert first == again
    assert len(rig.flow.events) == 1


async def test_stale_step_is_not_fed_to_ivr(rig: Rig) -> None:
    sid = await started_call(rig)
    await rig.peer.post(rig.peer.url("gather?step=1"), call_params(sid, Digits="1"))
    await rig.peer.post(rig.peer.url("gather?step=1"), call_params(sid, Digits="2"))
    assert len(rig.flow.events) == 1


async def test_concurrent_voice_retry_starts_once(rig: Rig) -> None:
    rig.flow.start_delay = 0.1
    url, params = rig.peer.url("voice"), call_params(new_sid("CA"))
    first, second = await asyncio.gather(rig.peer.post(url, params), rig.peer.post(url, params))
    assert first == second
    assert first[0] == 200
    assert len(rig.flow.started) == 1


async def test_concurrent_status_retry_ends_once(rig: Rig) -> None:
    sid = await started_call(rig)
    rig.flow.hangup_delay = 0.1
    url = rig.peer.url("status")
    params = call_params(sid, CallStatus="completed", CallDuration="12")
    results = await asyncio.gather(rig.peer.post(url, params), rig.peer.post(url, params))
    assert [status for status, _ in results] == [204, 204]
    assert rig.flow.hung_up == [(sid, "completed")]


async def test_status_never_regresses(rig: Rig) -> None:
    sid = await started_call(rig)
    url = rig.peer.url("status")
    await rig.peer.post(url, call_params(sid, CallStatus="completed"))
    await rig.peer.post(url, call_params(sid, CallStatus="in-progress"))
    await rig.peer.post(url, call_params(sid, CallStatus="busy"))
    assert rig.flow.hung_up == [(sid, "completed")]
    session = await rig.store.load_call_session(sid)
    assert session is not None
    assert session["status"] == "completed"
    status, body = await rig.peer.post(rig.peer.url("gather?step=1"), call_params(sid, Digits="1"))
    assert status == 200
    assert "<Hangup />" in body


async def test_status_before_voice_prevents_start(rig: Rig) -> None:
    sid = new_sid("CA")
    await rig.peer.post(rig.peer.url("status"), call_params(sid, CallStatus="canceled"))
    status, body = await rig.peer.post(rig.peer.url("voice"), call_params(sid))
    assert status == 200
    assert "<Hangup />" in body
    assert rig.flow.started == []


async def test_get_webhook_is_signed_over_url(rig: Rig) -> None:
    status, body = await rig.peer.post(
        rig.peer.url("voice"), call_params(new_sid("CA")), method="GET"
    )
    assert status == 200
    assert "<Gather" in body


async def test_prompt_served_as_wav(rig: Rig) -> None:
    url = rig.peer.url("prompts/en/welcome.wav")
    assert await rig.peer.fetch_audio(url) == (200, pytest.approx(1.9, abs=2.0))
    session = rig.peer._require_session()
    async with session.get(f"{rig.base_url}/twilio/prompts/en/welcome.wav") as response:
        assert response.status == 200
        assert response.content_type == "audio/wav"
    assert (await rig.peer.fetch_audio(rig.peer.url("prompts/en/missing.wav")))[0] == 404
    assert (await rig.peer.fetch_audio(rig.peer.url("prompts/en/..%2Fsecret.wav")))[0] == 404
    assert (await rig.peer.fetch_audio(rig.peer.url("prompts/../welcome.wav")))[0] == 404
    assert (await rig.peer.fetch_audio(rig.peer.url("prompts/%2E%2E/welcome.wav")))[0] == 404


@pytest.mark.parametrize("settings_overrides", [{"validate_media": True}])
async def test_media_signature_when_configured(rig: Rig) -> None:
    assert (await rig.peer.fetch_audio(rig.peer.url("prompts/en/welcome.wav")))[0] == 200
    session = rig.peer._require_session()
    async with session.get(f"{rig.base_url}/twilio/prompts/en/welcome.wav") as response:
        assert response.status == 403
    async with session.get(f"{rig.base_url}/twilio/music/1.wav") as response:
        assert response.status == 403


async def test_music_segment_is_wav(rig: Rig) -> None:
    status, seconds = await rig.peer.fetch_audio(rig.peer.url("music/3.wav"))
    assert status == 200
    assert seconds == pytest.approx(5.0, abs=0.01)


async def test_slow_step_holds_caller(rig: Rig) -> None:
    rig.flow.handle_delay = 0.5
    call = rig.peer.call("+447700900123", "+442071234567", ["1"])
    for _ in range(300):
        if call.requested("/twilio/continue"):
            break
        await asyncio.sleep(0.01)
    call.hang_up()
    await asyncio.wait_for(call.finished(), 5)
    assert call.requested("/twilio/continue?step=1&attempt=1")
    assert ("pause", "1.0") in [(entry.kind, entry.value) for entry in call.transcript]


async def test_connector_refuses_start_without_token() -> None:
    connector = make_connector(MenuFlow(), MemorySessionStore(), None)
    connector._environ = {"TWILIO_ACCOUNT_SID": ACCOUNT_SID}
    with pytest.raises(TwilioSetupError, match="TWILIO_AUTH_TOKEN"):
        await connector.start()
    assert connector.health()["connected"] is False


async def test_restarted_engine_continues_call() -> None:
    flow, store = MenuFlow(), MemorySessionStore()
    async with TwilioPeer(
        target_url="http://127.0.0.1:1",
        public_url=PUBLIC_URL,
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
    ) as peer:
        sid = new_sid("CA")
        first = make_connector(flow, store, peer)
        await first.start()
        runner, peer.target_url = await serve(first)
        await peer.post(peer.url("voice"), call_params(sid))
        await first.stop()
        await runner.cleanup()

        second = make_connector(flow, store, peer)
        await second.start()
        runner, peer.target_url = await serve(second)
        status, body = await peer.post(peer.url("gather?step=1"), call_params(sid, Digits="2"))
        await second.stop()
        await runner.cleanup()
    assert status == 200
    assert 'action="https://voice.example.test/twilio/gather?step=2"' in body
    assert flow.events == [(sid, DigitsCollected(digits="2", reason="max_digits"))]


async def test_forwarded_host_from_trusted_proxy() -> None:
    flow, store = MenuFlow(), MemorySessionStore()
    tunnel = "https://abc123.tunnel.example.test"
    async with TwilioPeer(
        target_url="http://127.0.0.1:1",
        public_url=tunnel,
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        headers={"X-Forwarded-Host": "abc123.tunnel.example.test", "X-Forwarded-Proto": "https"},
    ) as peer:
        results = []
        for proxies in (["127.0.0.1/32"], []):
            connector = make_connector(flow, store, peer, trusted_proxies=proxies)
            await connector.start()
            runner, peer.target_url = await serve(connector)
            results.append((await peer.post(peer.url("voice"), call_params(new_sid("CA"))))[0])
            await connector.stop()
            await runner.cleanup()
    assert results == [200, 403]


async def test_requests_before_start_are_unavailable() -> None:
    connector = make_connector(MenuFlow(), MemorySessionStore(), None)
    async with TwilioPeer(
        target_url="http://127.0.0.1:1",
        public_url=PUBLIC_URL,
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
    ) as peer:
        runner, peer.target_url = await serve(connector)
        status, _ = await peer.post(peer.url("voice"), call_params(new_sid("CA")))
        await runner.cleanup()
    assert status == 503


async def test_action_query_signed_as_sent(rig: Rig) -> None:
    sid = await started_call(rig)
    url = rig.peer.url("gather?step=1&z=%7E1&a=b%20c&a=a")
    status, body = await rig.peer.post(url, call_params(sid, Digits="1"))
    assert status == 200
    assert "step=2" in body
    assert rig.flow.events == [(sid, DigitsCollected(digits="1", reason="max_digits"))]


async def test_reencoded_action_query_is_forbidden(rig: Rig) -> None:
    sid = await started_call(rig)
    params = call_params(sid, Digits="1")
    signature = rig.peer.sign(rig.peer.url("gather?step=1&z=~1"), params)
    url = rig.peer.url("gather?step=1&z=%7E1")
    status, _ = await rig.peer.post(url, params, signature=signature)
    assert status == 403
    assert rig.flow.events == []


async def test_agent_answer_seen_by_other_process() -> None:
    flow, store = MenuFlow(), MemorySessionStore()
    async with TwilioPeer(
        target_url="http://127.0.0.1:1",
        public_url=PUBLIC_URL,
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        time_scale=0.01,
    ) as peer:
        dialing = make_connector(flow, store, peer)
        serving = make_connector(flow, store, peer)
        await dialing.start()
        await serving.start()
        runner, peer.target_url = await serve(serving)
        call = peer.call("+447700900123", "+442071234567", ["1", "1", "1#"])
        for _ in range(500):
            if call.requested("/twilio/queue"):
                break
            await asyncio.sleep(0.01)
        peer.agents["client:alice"] = Agent(talk_seconds=600.0)
        alice = AgentEndpoint(agent_id="alice", address="client:alice")
        result = await dialing.connect_agent(call.sid, alice, 5.0)
        stored = await store.load_call_session(call.sid)
        call.hang_up()
        await asyncio.wait_for(call.finished(), 5)
        await dialing.stop()
        await serving.stop()
        await runner.cleanup()
    assert result is AgentLegResult.ANSWERED
    assert stored is not None
    assert stored["state"] == "connected"


async def test_stale_agent_leg_keeps_caller_on_hold(rig: Rig) -> None:
    sid = await started_call(rig)
    params = call_params(sid, CallStatus="in-progress", DialCallStatus="no-answer")
    status, body = await rig.peer.post(rig.peer.url("agent-ended?step=1&attempt=old"), params)
    assert status == 200
    assert "<Hangup" not in body
    assert "/twilio/queue?step=1" in body


async def test_slow_step_continues_on_other_process() -> None:
    flow, store = MenuFlow(), MemorySessionStore()
    flow.handle_delay = 0.6
    async with TwilioPeer(
        target_url="http://127.0.0.1:1",
        public_url=PUBLIC_URL,
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
    ) as peer:
        first = make_connector(flow, store, peer, reply_budget=0.1)
        second = make_connector(flow, store, peer, reply_budget=0.1)
        await first.start()
        await second.start()
        first_runner, peer.target_url = await serve(first)
        second_runner, second_url = await serve(second)

        sid = new_sid("CA")
        await peer.post(peer.url("voice"), call_params(sid))
        status, paused = await peer.post(peer.url("gather?step=1"), call_params(sid, Digits="1"))
        peer.target_url = second_url
        replies = []
        for attempt in range(1, 30):
            url = peer.url(f"continue?step=1&attempt={attempt}")
            replies.append((await peer.post(url, call_params(sid, CallStatus="in-progress")))[1])
            if "<Gather" in replies[-1]:
                break
            await asyncio.sleep(0.1)

        for connector in (first, second):
            await connector.stop()
        for runner in (first_runner, second_runner):
            await runner.cleanup()
    assert status == 200
    assert "continue?step=1&amp;attempt=1" in paused
    assert "<Pause" in replies[0]
    assert 'action="https://voice.example.test/twilio/gather?step=2"' in replies[-1]
    assert flow.events == [(sid, DigitsCollected(digits="1", reason="max_digits"))]
