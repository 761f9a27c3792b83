"""The sans-I/O FastAGI codec against recorded Asterisk output."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from santral.telephony.asterisk import agi
from santral.telephony.asterisk.agi import (
    AgiProtocolError,
    AgiReader,
    AgiReply,
    AgiRequest,
    HangupNotice,
    ReplyStatus,
)
from tests.asterisk.transcripts import asterisk_side, read_text, santral_side

HEADER = read_text("header.agi").encode()


def read_all(data: bytes) -> list[agi.ReaderItem]:
    return AgiReader().feed(data)


def test_header_block_from_real_asterisk() -> None:
    items = read_all(HEADER)

    assert len(items) == 1
    request = items[0]
    assert isinstance(request, AgiRequest)
    assert len(request.headers) == 22
    assert request.channel == "PJSIP/trunk-00000001"
    assert request.unique_id == "1733331000.11"
    assert request.caller == "5551234"
    assert request.called == "4000"
    assert request.get("accountcode") == ""
    assert request.arguments == ()


def test_query_string_is_not_part_of_script() -> None:
    request = read_all(HEADER)[0]

    assert isinstance(request, AgiRequest)
    assert request.script == "ivr"
    assert request.query == {"lang": "en"}


def test_script_from_request_url_without_network_script() -> None:
    headers = {
        "request": "agi://10.0.0.5:4573/sales/main?lang=tr&vip=1",
        "arg_1": "a b",
        "arg_2": "",
    }

    request = agi.build_request(headers)

    assert request.script == "sales/main"
    assert request.query == {"lang": "tr", "vip": "1"}
    assert request.arguments == ("a b", "")


def test_header_split_across_every_byte() -> None:
    reader = AgiReader()
    items: list[agi.ReaderItem] = []
    for index in range(len(HEADER)):
        items += reader.feed(HEADER[index : index + 1])

    assert [type(item) for item in items] == [AgiRequest]


def test_connection_closed_inside_header_raises() -> None:
    reader = AgiReader()
    reader.feed(HEADER[:100])

    with pytest.raises(AgiProtocolError, match="before the empty line"):
        reader.feed_eof()


def test_probe_without_any_byte_raises_on_eof() -> None:
    with pytest.raises(AgiProtocolError):
        AgiReader().feed_eof()


def test_invalid_header_line_raises() -> None:
    with pytest.raises(AgiProtocolError, match="invalid FastAGI header"):
        AgiReader().feed(b"GET / HTTP/1.1\r\n")


def test_overlong_line_raises() -> None:
    with pytest.raises(AgiProtocolError, match="longer than"):
        AgiReader().feed(b"agi_x: " + b"a" * (agi.MAX_LINE + 10))


def replies_of(name: str) -> list[agi.ReaderItem]:
    reader = AgiReader()
    reader.feed(HEADER)
    return reader.feed(asterisk_side(name))


def test_menu_replies() -> None:
    items = replies_of("menu_keys.txt")

    replies = [item for item in items if isinstance(item, AgiReply)]
    assert [reply.digit for reply in replies[1:3]] == ["1", ""]
    assert replies[1].endpos == 2080
    assert replies[2].endpos == 11234
    assert replies[3].result == "23"
    assert isinstance(items[-1], HangupNotice)


def test_timeout_marker_kept_with_empty_result() -> None:
    replies = [item for item in replies_of("menu_keys.txt") if isinstance(item, AgiReply)]
    timed_out = replies[4]

    assert timed_out.result == ""
    assert timed_out.timed_out
    assert timed_out.value is None


def test_hangup_line_is_a_notice_not_a_reply() -> None:
    items = replies_of("hangup_during_get_data.txt")

    assert isinstance(items[0], AgiReply)
    assert items[0].value == -1
    assert not items[0].channel_gone
    assert isinstance(items[1], HangupNotice)
    assert isinstance(items[2], AgiReply)
    assert items[2].status == ReplyStatus.DEAD_CHANNEL
    assert items[2].channel_gone


def test_hangup_result_after_record_file() -> None:
    reply = replies_of("record_hangup.txt")[0]

    assert isinstance(reply, AgiReply)
    assert reply.channel_gone
    assert reply.endpos == 25280


def test_usage_error_keeps_alignment() -> None:
    items = replies_of("errors.txt")

    assert len(items) == len(santral_side("errors.txt"))
    statuses = [item.status for item in items if isinstance(item, AgiReply)]
    assert statuses == [510, 520, 200, 200, 200]
    usage = items[1]
    assert isinstance(usage, AgiReply)
    assert "SAY NUMBER <number>" in usage.text
    assert usage.value is None


def test_error_codes_are_not_results() -> None:
    items = replies_of("errors.txt")

    for item in items[:2]:
        assert isinstance(item, AgiReply)
        assert not item.ok
        assert not item.channel_gone
        assert item.value is None


def test_variable_value_in_parentheses() -> None:
    items = replies_of("errors.txt")

    found = items[3]
    assert isinstance(found, AgiReply)
    assert (found.result, found.data) == ("1", "NOANSWER")


def test_eof_inside_usage_reply_raises() -> None:
    reader = AgiReader()
    reader.feed(HEADER + b"520-Invalid command syntax.  Proper usage follows:\n")

    with pytest.raises(AgiProtocolError, match="middle of a reply"):
        reader.feed_eof()


@pytest.mark.parametrize("line", [b"abc\n", b"2000 result=1\n", b"200 res=1\n"])
def test_invalid_reply_raises(line: bytes) -> None:
    reader = AgiReader()
    reader.feed(HEADER)

    with pytest.raises(AgiProtocolError):
        reader.feed(line)


def test_commands_match_the_transcripts() -> None:
    sent = [
        agi.answer_command(),
        agi.stream_file_command("hello-world", agi.ALL_DIGITS),
        agi.wait_for_digit_command(3000),
        agi.hangup_command(),
        agi.say_number_command(42),
        agi.record_file_command("voicemail-1", 120000),
    ]

    expected = set(santral_side("menu_keys.txt") + santral_side("errors.txt"))
    expected |= set(santral_side("record_hangup.txt"))
    for line in sent:
        assert line.decode().rstrip("\n") in expected


def test_argument_quoting_escapes_quotes_and_rejects_newlines() -> None:
    assert agi.quote('say "hi" \\ now') == '"say \\"hi\\" \\\\ now"'
    with pytest.raises(AgiProtocolError):
        agi.set_variable_command("X", "a\nHANGUP")
    with pytest.raises(AgiProtocolError):
        agi.command("GET VARIABLE")
    with pytest.raises(AgiProtocolError):
        agi.say_digits_command("12a")


replies = st.builds(
    AgiReply,
    status=st.just(200),
    result=st.sampled_from(["0", "-1", "49", "", "123"]),
    data=st.sampled_from(["", "timeout", "hangup", "dtmf", "some value"]),
    endpos=st.one_of(st.none(), st.integers(0, 10**7)),
)


@settings(max_examples=200, deadline=None)
@given(replies)
def test_reply_round_trip(reply: AgiReply) -> None:
    reader = AgiReader()
    reader.feed(HEADER)

    assert reader.feed(agi.format_reply(reply)) == [reply]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=10))
def test_usage_reply_survives_any_split(cuts: list[int]) -> None:
    usage = AgiReply(status=520, text="Invalid command syntax.\n Usage: X\nmore")
    data = HEADER + agi.format_reply(usage) + b"200 result=0\n"
    reader = AgiReader()
    items: list[agi.ReaderItem] = []
    position = 0
    for cut in cuts:
        items += reader.feed(data[position : position + cut])
        position += cut
    items += reader.feed(data[position:])

    assert items[1:] == [usage, AgiReply(status=200, result="0")]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_raises_only_protocol_errors(data: bytes) -> None:
    reader = AgiReader()
    try:
        reader.feed(HEADER)
        reader.feed(data)
        reader.feed_eof()
    except AgiProtocolError:
        pass


@pytest.mark.parametrize("cut", [1, 17, 100, len(HEADER) - 1])
def test_truncated_header_never_yields_request(cut: int) -> None:
    reader = AgiReader()

    assert reader.feed(HEADER[:cut]) == []
    assert not reader.header_complete


def test_whole_header_block_matches_byte_by_byte() -> None:
    whole = read_all(HEADER)
    reader = AgiReader()
    split: list[agi.ReaderItem] = []
    for index in range(len(HEADER)):
        split += reader.feed(HEADER[index : index + 1])

    assert whole == split


def test_header_block_with_first_reply_in_one_chunk() -> None:
    items = read_all(HEADER + b"200 result=0\nHANGUP\n")

    assert [type(item) for item in items] == [AgiRequest, AgiReply, HangupNotice]
    assert items[1] == AgiReply(status=200, result="0")


def test_header_block_with_crlf_lines() -> None:
    items = read_all(HEADER.replace(b"\n", b"\r\n"))

    assert len(items) == 1
    request = items[0]
    assert isinstance(request, AgiRequest)
    assert request.channel == "PJSIP/trunk-00000001"
    assert len(request.headers) == 22


def test_invalid_line_inside_whole_block_raises() -> None:
    data = HEADER.replace(b"agi_threadid", b"threadid")

    with pytest.raises(AgiProtocolError, match="invalid FastAGI header"):
        read_all(data)


def test_reply_cache_keeps_partial_lines_apart() -> None:
    reader = AgiReader()
    reader.feed(HEADER)

    first = reader.feed(b"200 result=0\n")
    partial = reader.feed(b"200 res")
    rest = reader.feed(b"ult=0\n")

    assert first == rest == [AgiReply(status=200, result="0")]
    assert partial == []


def test_header_value_may_contain_separator() -> None:
    data = HEADER.replace(b"Ada Caller", b"Caller: Ada")

    request = read_all(data)[0]

    assert isinstance(request, AgiRequest)
    assert request.get("calleridname") == "Caller: Ada"
    assert request.get("threadid") == "140245121517248"


def test_header_line_without_separator_raises() -> None:
    data = HEADER.replace(b"agi_threadid: ", b"agi_threadid")

    with pytest.raises(AgiProtocolError, match="invalid FastAGI header"):
        read_all(data)


def test_header_line_ending_in_colon_has_empty_value() -> None:
    data = HEADER.replace(b"agi_accountcode: ", b"agi_accountcode:")

    request = read_all(data)[0]

    assert isinstance(request, AgiRequest)
    assert request.get("accountcode", "missing") == ""
    assert len(request.headers) == 22
