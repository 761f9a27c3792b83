"""The sans-I/O AMI codec and event mapping against recorded Asterisk streams."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from santral.telephony.asterisk import ami_events as events
from santral.telephony.asterisk.ami import (
    ActionTracker,
    AmiFramer,
    AmiMessage,
    AmiProtocolError,
    MessageKind,
    format_action,
)
from tests.asterisk.transcripts import ami_stream, panoramisk_server_side, read_text


def frame(data: bytes) -> list[AmiMessage]:
    return AmiFramer().feed(data)


def block_count(name: str) -> int:
    body = read_text(name).split("\n", 1)[1]
    return len([block for block in body.split("\n\n") if block.strip()])


@pytest.mark.parametrize("line_end", ["\r\n", "\n"])
def test_every_event_of_a_call_is_read(line_end: str) -> None:
    framer = AmiFramer()
    messages = framer.feed(ami_stream("agent_call.ami", line_end))

    assert framer.banner == "Asterisk Call Manager/13.0.0"
    assert len(messages) == block_count("agent_call.ami")
    assert messages[0].name == "Newchannel"
    assert messages[-1].name == "BridgeDestroy"


def test_mixed_terminators_never_merge_messages() -> None:
    data = (
        b"Asterisk Call Manager/13.0.0\r\n"
        b"Event: A\r\nUniqueid: 1\r\n\n"
        b"Event: B\r\nUniqueid: 2\r\n\r\n"
        b"Event: C\nUniqueid: 3\n\n"
    )

    messages = frame(data)

    assert [message.name for message in messages] == ["A", "B", "C"]
    assert [message.get("Uniqueid") for message in messages] == ["1", "2", "3"]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 200), min_size=1, max_size=30))
def test_any_split_gives_the_same_messages(cuts: list[int]) -> None:
    data = ami_stream("agent_call.ami")
    framer = AmiFramer()
    messages: list[AmiMessage] = []
    position = 0
    for cut in cuts:
        messages += framer.feed(data[position : position + cut])
        position += cut
    messages += framer.feed(data[position:])

    assert [message.block for message in messages] == [message.block for message in frame(data)]


def test_repeated_headers_keep_every_value() -> None:
    messages = frame(ami_stream("queue_events_asterisk13.ami"))
    hangup = messages[-1]

    assert hangup.get_all("ChanVariable") == ["SANTRAL_CALL=abc", "SANTRAL_QUEUE=support"]
    assert hangup.variables() == [("SANTRAL_CALL", "abc"), ("SANTRAL_QUEUE", "support")]


def test_asterisk11_channel_variables() -> None:
    message = AmiMessage(
        "Event: Hangup\nChanVariable(SIP/a-1): A=1\n"
        "ChanVariable(SIP/a-1): B=2\nDestChanVariable: C=3"
    )

    assert message.variables() == [("A", "1"), ("B", "2")]


def test_event_with_response_header_is_an_event() -> None:
    message = AmiMessage("Event: OriginateResponse\nActionID: 7\nResponse: Failure\nReason: 0")

    assert message.kind is MessageKind.EVENT
    assert events.normalise(message) == [events.OriginateResult("7", False, 0, "", "")]


def test_banner_required() -> None:
    with pytest.raises(AmiProtocolError, match="banner"):
        frame(b"HTTP/1.1 200 OK\r\n\r\n")


def test_undecodable_bytes_are_counted() -> None:
    framer = AmiFramer()
    messages = framer.feed(b"Asterisk Call Manager/13.0.0\r\nEvent: X\r\nName: \xff\xfe\r\n\r\n")

    assert len(messages) == 1
    assert framer.replaced_bytes == 2


def test_command_output_old_format_with_blank_line() -> None:
    _, stream = panoramisk_server_side("queue_status.yaml")
    messages = frame(stream)

    command = messages[-1]
    assert command.get("Response") == "Follows"
    assert command.output_lines() == [
        "HTTP Server Status:",
        "Prefix: ",
        "Server Enabled and Bound to 127.0.0.1:8080",
        "",
        "Enabled URI's:",
        "/httpstatus => Asterisk HTTP General Status",
        "/static/... => Asterisk HTTP Static Delivery",
        "/ws => Asterisk HTTP WebSocket",
        "",
        "Enabled Redirects:",
        "  None.",
    ]


def test_command_output_both_formats_give_same_lines() -> None:
    old = frame(
        b"Asterisk Call Manager/1.3\r\nResponse: Follows\r\nPrivilege: Command\r\nActionID: 1\r\n"
        b"line one\r\n\r\nline: three\r\n--END COMMAND--\r\n\r\n"
    )[0]
    new = frame(
        b"Asterisk Call Manager/5.0.0\r\nResponse: Success\r\nActionID: 1\r\n"
        b"Message: Command output follows\r\nOutput: line one\r\nOutput: \r\n"
        b"Output: line: three\r\n\r\n"
    )[0]

    assert old.output_lines() == ["line one", "", "line: three"]
    assert new.output_lines() == old.output_lines()
    assert old.action_id == new.action_id == "1"


def test_old_command_output_one_line() -> None:
    _, stream = panoramisk_server_side("command_core_show_version.yaml")
    messages = frame(stream)

    assert len(messages) == 1
    assert messages[0].output_lines()[0].startswith("Asterisk 11.11.0")


@pytest.mark.parametrize(
    "name",
    [
        "queue_status.yaml",
        "asyncagi_get_var.yaml",
        "command_core_show_version.yaml",
        "originate_sync.yaml",
        "pjsip_show_endpoint.yaml",
    ],
)
def test_recorded_streams_replay_without_loss(name: str) -> None:
    _, stream = panoramisk_server_side(name)
    expected = stream.decode().split("\r\n", 1)[1]
    count = len([block for block in expected.split("\r\n\r\n") if block.strip()])
    messages = frame(stream)

    follows = [message for message in messages if message.get("Response") == "Follows"]
    inner_blank_lines = sum(len([line for line in m.output if line == ""]) for m in follows)
    assert len(messages) + inner_blank_lines == count
    for message in messages:
        assert message.kind is not MessageKind.OTHER
        events.normalise(message)


def tracked(
    action: str, action_id: str, fields: list[tuple[str, str]], data: bytes
) -> list[object]:
    tracker = ActionTracker()
    tracker.sent(action, action_id, fields)
    results: list[object] = []
    for message in AmiFramer(expect_banner=False).feed(data):
        consumed, done = tracker.receive(message)
        results.append(done if consumed else message.name)
    return results


def test_action_with_plain_response_completes_at_once() -> None:
    data = b"Response: Success\r\nActionID: 1\r\nMessage: Added interface to queue\r\n\r\n"

    results = tracked("QueueAdd", "1", [], data)

    assert len(results) == 1
    assert results[0] is not None


def test_agi_action_completes_on_exec() -> None:
    ids, stream = panoramisk_server_side("asyncagi_get_var.yaml")
    tracker = ActionTracker()
    tracker.sent("AGI", ids[0], [("CommandID", "command/transaction_uid/1/1")])
    finished = []
    unrelated = []
    for message in frame(stream):
        consumed, done = tracker.receive(message)
        if done is not None:
            finished.append(done)
        if not consumed:
            unrelated.append(message.name)

    assert len(finished) == 1
    assert finished[0][1].events[-1].get("SubEvent") == "Exec"
    assert unrelated == ["AGIExec", "AGIExec"]


def test_list_completes_amid_other_events() -> None:
    data = (
        b"Response: Success\r\nActionID: 9\r\nEventList: start\r\n"
        b"Message: Channels will follow\r\n\r\n"
        b"Event: CoreShowChannel\r\nActionID: 9\r\nChannel: PJSIP/a-1\r\nUniqueid: 1\r\n\r\n"
        b"Event: Newstate\r\nChannel: PJSIP/b-2\r\nUniqueid: 2\r\nChannelStateDesc: Up\r\n\r\n"
        b"Event: CoreShowChannel\r\nActionID: 9\r\nChannel: PJSIP/c-3\r\nUniqueid: 3\r\n\r\n"
        b"Event: CoreShowChannelsComplete\r\nActionID: 9\r\nEventList: Complete\r\n"
        b"ListItems: 2\r\n\r\n"
    )

    results = tracked("CoreShowChannels", "9", [], data)

    assert results[:4] == [None, None, "Newstate", None]
    final = results[4]
    assert isinstance(final, tuple)
    assert [event.get("Channel") for event in final[1].events[:2]] == ["PJSIP/a-1", "PJSIP/c-3"]


def test_list_completes_on_named_event() -> None:
    _, stream = panoramisk_server_side("queue_status.yaml")
    tracker = ActionTracker()
    tracker.sent("QueueStatus", "trotro")
    done = [tracker.receive(message)[1] for message in frame(stream)]

    finished = [item for item in done if item is not None]
    assert len(finished) == 1
    assert len(finished[0][1].events) == 8


def test_async_originate_waits_for_originate_response() -> None:
    data = (
        b"Response: Success\r\nActionID: 5\r\nMessage: Originate successfully queued\r\n\r\n"
        b"Event: Newchannel\r\nChannel: PJSIP/alice-1\r\nUniqueid: 1\r\n\r\n"
        b"Event: OriginateResponse\r\nActionID: 5\r\nResponse: Failure\r\nChannel: PJSIP/alice\r\n"
        b"Reason: 0\r\nUniqueid: <null>\r\n\r\n"
    )

    results = tracked("Originate", "5", [("Async", "true")], data)

    assert results[:2] == [None, "Newchannel"]
    final = results[2]
    assert isinstance(final, tuple)
    assert not final[1].success


def test_error_response_completes_any_action() -> None:
    data = b"Response: Error\r\nActionID: 5\r\nMessage: Permission denied\r\n\r\n"

    results = tracked("CoreShowChannels", "5", [], data)

    final = results[0]
    assert isinstance(final, tuple)
    assert not final[1].success


def test_action_format_rejects_header_injection() -> None:
    assert format_action("Ping", "1") == b"Action: Ping\r\nActionID: 1\r\n\r\n"
    with pytest.raises(AmiProtocolError):
        format_action("Originate", "2", [("Channel", "PJSIP/a\r\nAction: Hangup")])


def test_both_generations_map_to_the_same_events() -> None:
    new = [e for m in frame(ami_stream("agent_call.ami")) for e in events.normalise(m)]
    old = [e for m in frame(ami_stream("agent_call_asterisk11.ami")) for e in events.normalise(m)]

    def kinds(found: list[events.AsteriskEvent]) -> list[str]:
        return [type(event).__name__ for event in found]

    assert kinds(new)[:3] == ["DialStarted", "DeviceStateChanged", "ChannelAnswered"]
    assert kinds(old)[:3] == ["DialStarted", "ChannelAnswered", "DialEnded"]
    started_new = new[0]
    started_old = old[0]
    assert isinstance(started_new, events.DialStarted)
    assert isinstance(started_old, events.DialStarted)
    assert started_new.agent_unique_id == started_old.agent_unique_id == "1733331000.12"
    assert "DialEnded" in kinds(new)
    assert kinds(new).count("BridgeEntered") == kinds(old).count("BridgeEntered") == 2
    assert kinds(new).count("BridgeLeft") == kinds(old).count("BridgeLeft") == 2


def test_queue_events_of_both_generations() -> None:
    old = [e for m in frame(ami_stream("agent_call_asterisk11.ami")) for e in events.normalise(m)]
    new = [e for m in frame(ami_stream("queue_events_asterisk13.ami")) for e in events.normalise(m)]

    for found in (old, new):
        joined = [event for event in found if isinstance(event, events.QueueCallerJoined)]
        left = [event for event in found if isinstance(event, events.QueueCallerLeft)]
        called = [event for event in found if isinstance(event, events.AgentCalled)]
        paused = [event for event in found if isinstance(event, events.QueueMemberPaused)]
        gone = [event for event in found if isinstance(event, events.EndpointRegistration)]
        assert joined == [
            events.QueueCallerJoined("support", "1733331000.20", joined[0].channel, 1)
        ]
        assert [event.unique_id for event in left] == ["1733331000.20"]
        assert [(event.interface.split("/")[1], event.member_name) for event in called] == [
            ("bob", "Bob")
        ]
        assert [(event.paused, event.reason) for event in paused] == [(True, "lunch")]
        assert [(event.endpoint.split("/")[1], event.registered) for event in gone] == [
            ("bob", False)
        ]


def test_channel_table_follows_a_call() -> None:
    table = events.ChannelTable()
    for message in frame(ami_stream("agent_call.ami")):
        for event in events.normalise(message):
            table.apply(event)

    assert table.channels == {}
    assert table.devices == {"PJSIP/alice": "RINGING"}


def test_channel_table_resync_reports_vanished_channels() -> None:
    table = events.ChannelTable()
    table.apply(events.DialStarted("1", "PJSIP/trunk-1", "2", "PJSIP/alice-2", "alice"))

    vanished = table.replace_channels([events.ChannelListed("1", "PJSIP/trunk-1", "Up", "AGI", "")])

    assert vanished == {"2"}
    assert set(table.channels) == {"1"}


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_garbage_raises_only_protocol_errors(data: bytes) -> None:
    framer = AmiFramer()
    try:
        for message in framer.feed(b"Asterisk Call Manager/13.0.0\r\n" + data + b"\r\n\r\n"):
            assert isinstance(message.headers, tuple)
            message.get("Uniqueid")
            events.normalise(message)
    except AmiProtocolError:
        pass


@pytest.mark.parametrize("cut", [10, 200, 1000])
def test_truncated_stream_keeps_the_rest(cut: int) -> None:
    data = ami_stream("agent_call.ami")
    framer = AmiFramer()
    first = framer.feed(data[:cut])
    rest = framer.feed(data[cut:])

    assert [m.block for m in first + rest] == [m.block for m in frame(data)]
