"""AMI framing and parsing without I/O: AmiFramer, AmiMessage, serialize_action and
AsyncAGI results, on bytes cut anywhere and on the recorded Asterisk 22 transcripts."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from panoramisk.ami_protocol import AMIProtocol

from hotline.pbx.ami.agi import parse_agi_result, quote_agi_arg
from hotline.pbx.ami.message import AmiFramer, AmiMessage, serialize_action
from tests.fakeami import FIXTURES, GREETING, frames, transcript

NAME = "纳税人张三"
NEWCHANNEL = frames(transcript("inbound_call"))[0]
STREAM = (GREETING + "\r\n" + NEWCHANNEL).encode("utf-8")


def feed_all(framer: AmiFramer, *chunks: bytes) -> list[AmiMessage]:
    return [message for chunk in chunks for message in framer.feed(chunk)]


# -- framing ----------------------------------------------------------------------------


def test_chinese_name_survives_a_cut_at_every_byte() -> None:
    """Two TCP reads cut anywhere (inside 纳 or the CRLF) still give the exact name."""
    assert len(NAME.encode()) == 15  # 5 characters, 3 bytes each
    for cut in range(1, len(STREAM)):
        framer = AmiFramer()
        messages = feed_all(framer, STREAM[:cut], STREAM[cut:])
        assert len(messages) == 1, cut
        assert messages[0]["CallerIDName"] == NAME, cut
        assert messages[0].event == "Newchannel", cut
        assert framer.greeting == GREETING, cut
        assert framer.decode_errors == 0
        assert framer.pending_bytes == 0


def test_a_stream_fed_one_byte_at_a_time() -> None:
    """A stream fed one byte per read yields the same events, UTF-8 names intact."""
    framer = AmiFramer()
    data = STREAM + transcript("call_to_seat").encode()
    messages = feed_all(framer, *(data[i:i + 1] for i in range(len(data))))
    assert [m.event for m in messages] == [
        "Newchannel", "AsyncAGIEnd", "QueueCallerJoin", "AgentConnect", "Hangup"]
    assert messages[3]["DestCallerIDName"] == "座席1001"
    assert messages[3]["MemberName"] == "座席1001"


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.txt")), ids=lambda p: p.stem)
def test_every_transcript_parses_the_same_in_any_chunking(path: Any) -> None:
    """Every recorded transcript parses to the same frames whatever the read sizes, without
    decode errors."""
    data = path.read_bytes()
    assert b"\n" not in data.replace(b"\r\n", b""), "transcripts use CRLF line ends"
    assert data.endswith(b"\r\n\r\n")
    whole = feed_all(AmiFramer(), data)
    assert len(whole) == data.count(b"\r\n\r\n")
    for size in (1, 2, 7, 64):
        framer = AmiFramer()
        pieces = feed_all(framer, *(data[i:i + size] for i in range(0, len(data), size)))
        assert [m.text for m in pieces] == [m.text for m in whole]
        assert framer.decode_errors == 0


def test_greeting_is_taken_apart_even_when_it_arrives_in_pieces() -> None:
    """A greeting split over several reads is recognised once complete, and the frame after
    it parses."""
    framer = AmiFramer()
    assert feed_all(framer, b"Asterisk Call", b" Manager/11.0", b".0\r") == []
    assert framer.greeting is None
    messages = feed_all(framer, b"\nResponse: Success\r\nMessage: Authentication accepted\r\n\r\n")
    assert framer.greeting == "Asterisk Call Manager/11.0.0"
    assert [m.response for m in messages] == ["Success"]


def test_greeting_and_first_frames_in_one_read() -> None:
    """The greeting and the first frame arriving in one read are both taken apart."""
    framer = AmiFramer()
    data = (GREETING + "\r\n").encode() + transcript("fully_booted").encode()
    messages = feed_all(framer, data)
    assert framer.greeting == GREETING
    assert [m.event for m in messages] == ["FullyBooted"]
    assert messages[0]["Status"] == "Fully Booted"


def test_a_stream_without_greeting_is_still_parsed() -> None:
    """A stream that starts without a greeting is parsed from its first frame."""
    framer = AmiFramer()
    messages = feed_all(framer, transcript("queue_add").encode())
    assert framer.greeting == ""
    assert messages[0]["Message"] == "Added interface to queue"


def test_an_incomplete_frame_waits_for_the_rest() -> None:
    """A frame missing its last bytes yields nothing until they arrive."""
    framer = AmiFramer()
    data = NEWCHANNEL.encode()
    assert feed_all(framer, data[:-2]) == []
    assert framer.pending_bytes == len(data) - 2
    assert len(feed_all(framer, data[-2:])) == 1


def test_invalid_utf8_becomes_replacement_characters_and_is_counted() -> None:
    """Invalid UTF-8 becomes replacement characters, is counted, and spoils neither the rest
    of its frame nor the next."""
    framer = AmiFramer()
    bad = (b"Event: Newchannel\r\nCallerIDName: \xff\xfe" + "纳".encode()[:2]
           + b"\r\nCallerIDNum: 055112345678\r\n\r\n")
    messages = feed_all(framer, bad, transcript("fully_booted").encode())
    assert messages[0]["CallerIDName"] == "\ufffd\ufffd\ufffd"
    assert messages[0]["CallerIDNum"] == "055112345678"  # the rest of the frame is intact
    assert framer.decode_errors == 3
    assert messages[1].event == "FullyBooted"  # and so is the next frame


# -- reading messages -------------------------------------------------------------------


def test_repeated_headers_keep_every_value_in_order() -> None:
    """A header repeated in a frame keeps every value in order; get() gives the first."""
    command = AmiMessage(frames(transcript("command_queue_show"))[0].rstrip("\r\n"))
    output = command.get_all("Output")
    assert len(output) == 7
    assert output[0].startswith("tax-inquiry has 1 calls")
    assert "座席1002" in output[3]
    assert "午休" in output[3]
    assert output[-1] == ""
    assert command.get("Output") == output[0]
    assert command.get_all("output") == output

    agi_start = AmiMessage(frames(transcript("inbound_call"))[1].rstrip("\r\n"))
    assert agi_start.get_all("ChanVariable") == ["HOTLINE_REGION=合肥", "HOTLINE_MENU="]
    assert agi_start.get_all("Channel") == ["PJSIP/trunk-cmcc-00000007"]
    assert agi_start.get_all("NoSuchHeader") == []


def test_header_lookup_ignores_case() -> None:
    """Header lookup ignores case; a missing header is None, a default, or a KeyError by
    []."""
    message = AmiMessage(NEWCHANNEL.rstrip("\r\n"))
    assert message.get("callerIDname") == NAME
    assert message["CALLERIDNUM"] == "055112345678"
    assert "uniqueid" in message
    assert message.get("Missing") is None
    assert message.get("Missing", "fallback") == "fallback"
    with pytest.raises(KeyError):
        message["Missing"]
    assert message.headers["Linkedid"] == "1764230400.14"


def test_a_key_with_no_value_is_empty_not_missing() -> None:
    """A header with no value is present and empty, not missing."""
    message = AmiMessage("Event: QueueMember\r\nPausedReason:\r\nAccountCode: \r\nName: 座席1001")
    assert message.get("PausedReason") == ""
    assert message.get("AccountCode") == ""
    assert "PausedReason" in message
    assert message["Name"] == "座席1001"
    recorded = AmiMessage(NEWCHANNEL.rstrip("\r\n"))
    assert recorded.get("AccountCode") == ""


def test_events_responses_and_action_ids() -> None:
    """Responses and events are told apart (an event with a Response header stays an event),
    with their ActionID and success."""
    reply, originate_response = (AmiMessage(f.rstrip("\r\n"))
                                 for f in frames(transcript("originate_async")))
    assert reply.event is None
    assert reply.response == "Success"
    assert reply.is_success
    assert reply.action_id == "{ActionID}"
    # An event that carries a Response header is still an event.
    assert originate_response.event == "OriginateResponse"
    assert originate_response["Response"] == "Success"
    refused = AmiMessage("Response: Error\r\nActionID: 7\r\nMessage: Authentication failed")
    assert not refused.is_success
    assert refused.action_id == "7"
    assert "Error" in repr(refused)


# -- writing actions --------------------------------------------------------------------


def test_serialize_action_writes_utf8_lines_and_repeats_list_values() -> None:
    """An action is written as UTF-8 CRLF lines, a list value as one repeated header per
    item."""
    data = serialize_action({"Action": "Originate", "ActionID": "a-1",
                             "CallerID": '"纳税人张三" <055112345678>',
                             "Variable": ["REGION=合肥", "MENU=main"]})
    assert data == ('Action: Originate\r\nActionID: a-1\r\nCallerID: "纳税人张三" '
                    '<055112345678>\r\nVariable: REGION=合肥\r\nVariable: MENU=main\r\n'
                    '\r\n').encode()


@pytest.mark.parametrize("fields", [
    {"Action": "Setvar", "Value": "x\r\nAction: Originate"},
    {"Action": "Setvar", "Value": "x\nAction: Originate"},
    {"Action": "Setvar", "Value": "x\rAction: Originate"},
    {"Action": "Setvar", "Variable": ["ok", "bad\r\nAction: Hangup"]},
    {"Action": "Setvar", "Bad\r\nKey": "x"},
])
def test_serialize_action_refuses_header_injection(fields: dict[str, Any]) -> None:
    """A line break in an action's key or value is refused (no header injection)."""
    with pytest.raises(ValueError, match="line break"):
        serialize_action(fields)


# -- AsyncAGI results -------------------------------------------------------------------


def test_agi_result_url_encoded_digit() -> None:
    """A URL-encoded AGI result gives its code, result and the key pressed."""
    result = parse_agi_result("200%20result%3D49%0A")
    assert (result.code, result.result, result.digit) == (200, "49", "1")
    assert result.ok
    assert not result.hangup
    assert result.raw == "200 result=49"


def test_agi_result_timeout_without_digit() -> None:
    """An AGI result 0 (timeout) is a success with no key."""
    result = parse_agi_result("200 result=0 (timeout)")
    assert (result.code, result.result, result.data) == (200, "0", "timeout")
    assert result.digit is None
    assert result.ok


def test_agi_result_minus_one_is_a_hangup() -> None:
    """An AGI result -1 means the caller hung up."""
    result = parse_agi_result("200 result=-1")
    assert result.hangup
    assert not result.ok
    assert result.digit is None


def test_agi_result_dead_channel() -> None:
    """AGI code 511 (dead channel) is a hangup, not a success."""
    result = parse_agi_result("511%20Command%20Not%20Permitted%20on%20a%20dead%20channel"
                              "%20or%20intercept%20routine%0A")
    assert result.code == 511
    assert result.hangup
    assert not result.ok
    assert result.result is None
    assert result.raw == "511 Command Not Permitted on a dead channel or intercept routine"


def test_agi_result_unknown_command() -> None:
    """AGI code 510 (unknown command) is a failure, not a hangup."""
    result = parse_agi_result("510 Invalid or unknown command")
    assert result.code == 510
    assert not result.ok
    assert not result.hangup
    assert result.result is None
    assert result.digit is None


def test_agi_result_extra_values() -> None:
    """Extra key=value pairs of an AGI result are kept."""
    result = parse_agi_result("200 result=1 endpos=12345")
    assert (result.code, result.result) == (200, "1")
    assert result.extra == {"endpos": "12345"}
    assert result.ok


def test_agi_result_garbage() -> None:
    """An empty or unparsable AGI result is code 0, not a success."""
    result = parse_agi_result("")
    assert result.code == 0
    assert not result.ok
    assert parse_agi_result("HANGUP").code == 0


def test_quote_agi_arg() -> None:
    """An AGI argument is quoted with its quotes escaped; a line break is refused."""
    assert quote_agi_arg('zh/欢迎 "12366"') == '"zh/欢迎 \\"12366\\""'
    with pytest.raises(ValueError, match="line break"):
        quote_agi_arg("a\r\nb")


# -- stock panoramisk still has the defect the framer contains --------------------------


class _Factory:
    """Just enough of panoramisk's Manager for AMIProtocol to dispatch events."""

    def __init__(self) -> None:
        self.dispatched: list[Any] = []

    def dispatch(self, message: Any) -> None:
        self.dispatched.append(message)


class _Transport(asyncio.Transport):
    def write(self, data: Any) -> None:
        pass


def stock_protocol() -> tuple[AMIProtocol, _Factory]:
    protocol = AMIProtocol()
    protocol.connection_made(_Transport())
    factory = _Factory()
    protocol.factory = factory
    protocol.encoding = "utf8"  # what panoramisk's Manager sets
    return protocol, factory


def test_stock_panoramisk_loses_chinese_text_split_across_reads() -> None:
    """Defect 5: the same bytes, cut inside 纳, lose the character in panoramisk 1.4."""
    data = NEWCHANNEL.encode()
    cut = data.index(NAME.encode()) + 1
    protocol, factory = stock_protocol()
    protocol.data_received(data[:cut])
    protocol.data_received(data[cut:])
    assert len(factory.dispatched) == 1
    assert factory.dispatched[0]["CallerIDName"] == "税人张三"  # 纳 silently dropped

    framer = AmiFramer()
    assert feed_all(framer, data[:cut], data[cut:])[0]["CallerIDName"] == NAME
