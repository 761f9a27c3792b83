"""The AMI client over panoramisk's Manager against the scripted AMI server."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest
from structlog.testing import capture_logs

from santral.errors import ConnectorError
from santral.telephony.asterisk import ami_events
from santral.telephony.asterisk.ami import AmiFramer
from santral.telephony.asterisk.ami_client import AmiClient, AmiProtocol
from santral.telephony.asterisk.ami_events import EVENT_MASK
from santral.testing.asterisk_peer import AmiServer, AsteriskPeer
from tests.asterisk.conftest import SECRET_ENV, asterisk_settings
from tests.asterisk.transcripts import ami_stream


async def until(condition: object, limit: float = 5.0) -> None:
    assert callable(condition)
    for _ in range(int(limit / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


@pytest.fixture
async def server() -> AsyncIterator[AmiServer]:
    ami = AmiServer(secret="s3cret")
    await ami.start()
    yield ami
    await ami.stop()


def client_for(
    server: AmiServer, events: list[ami_events.AsteriskEvent], logins: list[int]
) -> AmiClient:
    async def on_login() -> None:
        logins.append(1)

    settings = asterisk_settings(server.port).ami
    return AmiClient(settings, events.append, on_login=on_login)


async def test_login_uses_secret_from_environment(server: AmiServer, ami_secret: str) -> None:
    events: list[ami_events.AsteriskEvent] = []
    client = client_for(server, events, [])
    await client.start()
    await client.wait_logged_in(5.0)

    login = server.actions[0]
    assert login["action"] == "Login"
    assert login["username"] == "santral"
    assert login["events"] == EVENT_MASK
    assert server.logins == 1
    assert ami_events.FullyBooted() in events
    await client.stop()


async def test_missing_secret_variable_fails_start(
    server: AmiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SANTRAL_TEST_AMI_SECRET", raising=False)
    client = client_for(server, [], [])

    with pytest.raises(ConnectorError, match="SANTRAL_TEST_AMI_SECRET"):
        await client.start()


async def test_wrong_secret_is_logged_on_every_attempt(server: AmiServer, ami_secret: str) -> None:
    server.secret = "other"
    client = client_for(server, [], [])
    with capture_logs() as logs:
        await client.start()
        await until(lambda: server.failed_logins >= 3)
        await client.stop()

    failures = [entry for entry in logs if entry["event"] == "ami_login_failed"]
    assert len(failures) >= 3
    assert failures[0]["message"] == "Authentication failed"
    assert [entry["attempt"] for entry in failures[:3]] == [1, 2, 3]
    assert all("s3cret" not in str(entry) for entry in logs)
    assert not client.authenticated
    assert "Authentication failed" in client.health()["last_error"]  # type: ignore[operator]


async def test_reconnects_and_logs_in_again(server: AmiServer, ami_secret: str) -> None:
    logins: list[int] = []
    client = client_for(server, [], logins)
    await client.start()
    await client.wait_logged_in(5.0)

    await server.drop_connections()
    await until(lambda: server.logins == 2 and client.authenticated)

    assert len(logins) == 2
    await client.stop()


async def test_pending_action_fails_when_connection_drops(
    server: AmiServer, ami_secret: str
) -> None:
    client = client_for(server, [], [])
    await client.start()
    await client.wait_logged_in(5.0)
    server._action_ping = lambda *args: None  # type: ignore[method-assign]

    pending = asyncio.create_task(client.send("Ping"))
    await asyncio.sleep(0.05)
    await server.drop_connections()

    with pytest.raises(ConnectorError, match="connection lost"):
        await pending
    await client.stop()


async def test_async_originate_failure_arrives_as_event(server: AmiServer, ami_secret: str) -> None:
    AsteriskPeer(server).add_phone("PJSIP/bob", "no_answer")
    client = client_for(server, [], [])
    await client.start()
    await client.wait_logged_in(5.0)

    result = await client.originate(
        "PJSIP/bob", application="Wait", data="1", ring_seconds=5, variables={"SANTRAL": "1"}
    )

    assert result.response.get("Response") == "Success"
    assert not result.success
    assert result.events[-1].get("Reason") == "3"
    await client.stop()


async def test_lists_and_events_by_mask(server: AmiServer, ami_secret: str) -> None:
    events: list[ami_events.AsteriskEvent] = []
    peer = AsteriskPeer(server)
    peer.add_phone("PJSIP/alice")
    client = client_for(server, events, [])
    await client.start()
    await client.wait_logged_in(5.0)

    server.emit("VarSet", [("Variable", "X"), ("Value", "1")])
    server.emit("Hangup", [("Channel", "PJSIP/x-1"), ("Uniqueid", "9.1"), ("Cause", "16")])
    await until(lambda: any(isinstance(e, ami_events.ChannelHungUp) for e in events))
    states = await client.device_states()

    assert states == [ami_events.DeviceStateChanged("PJSIP/alice", "NOT_INUSE")]
    assert client.events_received == 2
    await client.stop()


@pytest.mark.parametrize(
    "name", ["agent_call.ami", "agent_call_asterisk11.ami", "queue_events_asterisk13.ami"]
)
async def test_recorded_stream_reaches_handlers(
    name: str, server: AmiServer, ami_secret: str
) -> None:
    events: list[ami_events.AsteriskEvent] = []
    client = client_for(server, events, [])
    protocol = AmiProtocol(client)
    data = ami_stream(name)

    for offset in range(0, len(data), 100):
        protocol.data_received(data[offset : offset + 100])

    names = re.findall(r"(?m)^Event: (\S+)", data.decode())
    framed = AmiFramer().feed(data)
    expected = [
        e for m in framed if m.name not in ami_events.NOISE for e in ami_events.normalise(m)
    ]
    assert client.events_received == len(names)
    assert events == expected
    assert expected


async def test_secret_comes_from_the_mapping_given(
    server: AmiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    settings = asterisk_settings(server.port).ami
    client = AmiClient(settings, lambda event: None, environ={SECRET_ENV: "s3cret"})
    await client.start()
    try:
        await client.wait_logged_in(5.0)
    finally:
        await client.stop()

    assert server.logins == 1
    assert server.failed_logins == 0


async def test_mapping_without_the_secret_refuses_to_start(
    server: AmiServer, ami_secret: str
) -> None:
    settings = asterisk_settings(server.port).ami
    client = AmiClient(settings, lambda event: None, environ={})

    with pytest.raises(ConnectorError, match=SECRET_ENV):
        await client.start()
