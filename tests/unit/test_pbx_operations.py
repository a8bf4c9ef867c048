"""The gateway's typed operations (hotline.pbx.operations, hotline.pbx.agi): what each
sends to Asterisk, and what the recorded answers become, against the fake AMI server."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from urllib.parse import quote

import pytest

from hotline.pbx.agi import AgiChannel, reads_keys
from hotline.pbx.gateway import AmiActionFailed, AmiAlready
from hotline.pbx.operations import is_send_on
from hotline.pbx.testline import reading_capacity
from tests.fakeami import Action, FakeAmi, event, response, running, transcript

CHANNEL = "PJSIP/trunk-cmcc-00000007"


def headers(action: Action) -> dict[str, str]:
    """An action's headers but its ActionID (which differs every run)."""
    return {k: v for k, v in action.lines if k != "ActionID"}


async def test_queue_status_is_parsed_once_into_typed_queues() -> None:
    """The recorded QueueStatus becomes one QueueStatus: its figures, members (device
    state, pause reason, the device their channels are named by) and waiting callers."""
    async with FakeAmi() as ami, running(ami) as gateway:
        ami.reply("QueueStatus", transcript("queue_status"))
        queues = await gateway.queue_status("tax-inquiry")
        assert ami.received("QueueStatus")[0].get("Queue") == "tax-inquiry"
    status = queues["tax-inquiry"]
    assert (status.waiting, status.holdtime, status.service_level) == (1, 6, 60)
    first, second = status.members
    assert (first.name, first.status, first.in_call, first.dynamic, first.device) == (
        "座席1001", "in_use", True, True, "Local/1001@seats")
    assert (second.paused, second.paused_reason, second.calls_taken, second.last_call) == (
        True, "午休", 3, 1764230101)
    [caller] = status.callers
    assert (caller.position, caller.number, caller.name, caller.wait, caller.uniqueid) == (
        1, "055187654321", "纳税人李四", 12, "1764230431.21")


async def test_channels_become_typed_channels_that_say_where_each_one_is() -> None:
    """The recorded CoreShowChannels: the caller in a queue (its queue, bridge, age), the
    seat's leg with the device it was made for, a caller still waiting unbridged."""
    async with FakeAmi() as ami, running(ami) as gateway:
        ami.reply("CoreShowChannels", transcript("core_show_channels"))
        caller, seat, waiting = await gateway.channels()
    assert (caller.channel, caller.linkedid, caller.in_queue, caller.queue) == (
        CHANNEL, "1764230400.14", True, "tax-inquiry")
    assert (caller.in_ivr, caller.on_line, caller.age) == (False, True, timedelta(seconds=42))
    assert (caller.caller_number, caller.caller_name) == ("055112345678", "纳税人张三")
    assert (seat.device, seat.in_queue, seat.bridge_id) == (
        "Local/1001@seats", False, caller.bridge_id)
    assert seat.application == "AppDial"
    assert (waiting.bridge_id, waiting.age) == ("", timedelta(seconds=12))


async def test_a_channel_in_async_agi_is_in_the_ivr() -> None:
    """A channel running AGI(agi:async) is in hotline's IVR, not in a queue."""
    show = transcript("core_show_channels").replace(
        "Application: Queue\r\nApplicationData: tax-inquiry,tT,,,300",
        "Application: AGI\r\nApplicationData: agi:async", 1)
    async with FakeAmi() as ami, running(ami) as gateway:
        ami.reply("CoreShowChannels", show)
        caller = (await gateway.channels())[0]
    assert (caller.in_ivr, caller.in_queue, caller.queue) == (True, False, None)


async def test_queue_member_changes_send_what_asterisk_expects() -> None:
    """Add, penalty, pause and remove each send their one action with these headers."""
    async with FakeAmi() as ami, running(ami) as gateway:
        ami.handler = lambda action: response("ok")
        await gateway.queue_add("center", "Local/8001@seats/n", "张敏", 3, paused=True)
        await gateway.queue_penalty("center", "Local/8001@seats/n", 7)
        await gateway.queue_pause("Local/8001@seats/n", True, "午休")
        await gateway.queue_remove("center", "Local/8001@seats/n")
    sent = [headers(a) for a in ami.actions if a.name != "Login"]
    assert sent == [
        {"Action": "QueueAdd", "Queue": "center", "Interface": "Local/8001@seats/n",
         "MemberName": "张敏", "Penalty": "3", "Paused": "true"},
        {"Action": "QueuePenalty", "Queue": "center", "Interface": "Local/8001@seats/n",
         "Penalty": "7"},
        {"Action": "QueuePause", "Interface": "Local/8001@seats/n", "Paused": "true",
         "Reason": "午休"},
        {"Action": "QueueRemove", "Queue": "center", "Interface": "Local/8001@seats/n"},
    ]


@pytest.mark.parametrize("message", [
    "Unable to add interface: Already there", "Unable to remove interface: Not there",
    "Interface not found"])
async def test_a_member_already_as_wanted_raises_already(message: str) -> None:
    """Asterisk's "already there / not there / not found" replies raise AmiAlready (an
    AmiActionFailed an idempotent caller may ignore)."""
    async with FakeAmi() as ami, running(ami) as gateway:
        ami.handler = lambda action: response(message, status="Error")
        with pytest.raises(AmiAlready):
            await gateway.queue_remove("center", "Local/8001@seats/n")


async def test_another_refusal_of_a_member_change_is_not_already() -> None:
    """Any other error reply stays an AmiActionFailed, not AmiAlready."""
    async with FakeAmi() as ami, running(ami) as gateway:
        ami.handler = lambda action: response("Unable to add interface to queue: No such "
                                              "queue", status="Error")
        with pytest.raises(AmiActionFailed) as failed:
            await gateway.queue_add("nowhere", "Local/8001@seats/n", "张敏", 0)
        assert not isinstance(failed.value, AmiAlready)


async def test_send_on_marks_the_call_done_then_leaves_async_agi() -> None:
    """Sending a finished call on: SET VARIABLE HOTLINE_DONE 1, then ASYNCAGI BREAK, with
    CommandIDs any run recognises as a send-on; an unfinished call gets the break alone."""
    async with FakeAmi() as ami, running(ami) as gateway:
        ami.handler = lambda action: response("Added AGI command to queue")
        await gateway.send_on(CHANNEL, done=True)
        await gateway.send_on(CHANNEL, done=False)
        sent = ami.received("AGI")
        assert [a.get("Command") for a in sent] == [
            "SET VARIABLE HOTLINE_DONE 1", "ASYNCAGI BREAK", "ASYNCAGI BREAK"]
        assert {a.get("Channel") for a in sent} == {CHANNEL}
        ids = [a.get("CommandID") or "" for a in sent]
        assert all(is_send_on(i) and not gateway.owns_id(i) for i in ids)
    assert not is_send_on("hotline-1a2b3c4d-7")


async def test_the_lease_is_a_channel_setvar_of_timeout_absolute_with_a_timeout() -> None:
    """The lease refresh is a Setvar of TIMEOUT(absolute) on the channel; QueueReload asks
    for the parameters only."""
    async with FakeAmi() as ami, running(ami) as gateway:
        ami.handler = lambda action: response("ok")
        await gateway.set_channel_variable(CHANNEL, "TIMEOUT(absolute)", "2", timeout=1.0)
        await gateway.reload_queue_parameters()
        lease = ami.received("Setvar")[0]
        reload = ami.received("QueueReload")[0]
    assert (lease.get("Variable"), lease.get("Channel"), lease.get("Value")) == (
        "TIMEOUT(absolute)", CHANNEL, "2")
    assert reload.get("Parameters") == "yes"


async def test_originate_sends_caller_id_and_ids_asynchronously() -> None:
    """Originate: CallerID as `"name" <number>`, Async, the ring timeout in ms, the ids."""
    async with FakeAmi() as ami, running(ami) as gateway:
        ami.reply("Originate", transcript("originate_async"))
        await gateway.originate("Local/s@caller/n", "ivr", "12366",
                                caller_number="13955112345", caller_name="纳税人李四",
                                channel_id="c1", other_channel_id="c1-caller")
        sent = headers(ami.received("Originate")[0])
    assert sent == {"Action": "Originate", "Channel": "Local/s@caller/n", "Context": "ivr",
                    "Exten": "12366", "Priority": "1", "CallerID": '"纳税人李四" <13955112345>',
                    "Async": "true", "Timeout": "30000", "ChannelId": "c1",
                    "OtherChannelId": "c1-caller"}


def agi_answers(results: dict[str, str]) -> Callable[[Action], str | None]:
    """A fake Asterisk that runs AGI commands: each command whose text starts with a key
    of `results` finishes with that result (AsyncAGIExec), any other with 200 result=0."""

    def answer(action: Action) -> str | None:
        if action.name != "AGI":
            return None
        command = action.get("Command") or ""
        result = next((r for k, r in results.items() if command.startswith(k)),
                      "200 result=0")
        return response("Added AGI command to queue") + event("AsyncAGIExec", {
            "Channel": CHANNEL, "CommandID": "{CommandID}",
            "Result": quote(result + "\n")})

    return answer


async def test_agi_channel_runs_queue_and_dial_in_asterisks_words() -> None:
    """queue() runs Queue with hotline's options and timeout and reads what it did from
    the channel; dial_out() dials the number through the outbound context and reads
    DIALSTATUS; ANSWER is answered."""
    async with FakeAmi() as ami, running(ami) as gateway:
        ami.handler = agi_answers({
            "GET VARIABLE DIALSTATUS": "200 result=1 (ANSWER)",
            "GET VARIABLE QUEUESTATUS": "200 result=1 (TIMEOUT)"})
        agi = AgiChannel(gateway, CHANNEL)
        outcome = await agi.queue("center-hefei", 30)
        assert (outcome.status, outcome.answered) == ("TIMEOUT", False)
        dialled = await agi.dial_out("055387654321")
        assert (dialled.answered, dialled.status) == (True, "ANSWER")
        commands = [a.get("Command") for a in ami.received("AGI")]
    assert commands[:2] == ['SET VARIABLE MEMBERINTERFACE ""', 'EXEC Queue "center-hefei,r,,,30"']
    assert "GET VARIABLE QUEUESTATUS" in commands[2:-2]
    assert commands[-2:] == ['EXEC Dial "Local/055387654321@outbound/n,60"',
                             "GET VARIABLE DIALSTATUS"]


async def test_agi_channel_reads_keys_records_and_finishes() -> None:
    """wait_for_digit() gives the key pressed; record_file() records wav after a beep,
    `#` ending it; finish() marks the call done and hangs up."""
    async with FakeAmi() as ami, running(ami) as gateway:
        ami.handler = agi_answers({"WAIT FOR DIGIT": "200 result=49",
                                   "RECORD FILE": "200 result=35 (dtmf) endpos=8000"})
        agi = AgiChannel(gateway, CHANNEL)
        assert await agi.wait_for_digit(5000) == "1"
        recorded = await agi.record_file("/var/vm/a b", max_seconds=120, silence_seconds=5)
        assert (recorded.code, recorded.data) == (200, "dtmf")
        await agi.finish()
        commands = [a.get("Command") for a in ami.received("AGI")]
    assert commands == ["WAIT FOR DIGIT 5000", 'RECORD FILE "/var/vm/a b" wav "#" 120000 0 '
                        "BEEP s=5", 'SET VARIABLE HOTLINE_DONE "1"', "HANGUP"]


@pytest.mark.parametrize(("command", "reads", "capacity"), [
    ("WAIT FOR DIGIT 5000", True, 1),
    ('STREAM FILE "zh/welcome" "0123456789*#"', True, 1),
    ('STREAM FILE "zh/welcome" ""', False, 0),
    ('GET DATA "zh/enter" 5000 4', False, 4),
    ('RECORD FILE "/v/a" wav "#" 120000 0 BEEP s=5', False, 1),
    ("ANSWER", False, 0),
])
def test_which_agi_commands_read_keys(command: str, reads: bool, capacity: int) -> None:
    """The IVR keeps a key as type-ahead unless the running command takes it (WAIT FOR
    DIGIT, STREAM FILE with escape digits); the test caller presses as many keys as the
    command reads."""
    assert reads_keys(command) is reads
    assert reading_capacity(command) == capacity


async def test_spy_originates_the_phone_into_chanspy_on_one_channel() -> None:
    """A leader's whisper is one async Originate of the phone into ChanSpy with the full
    channel name and q, w, E, S; a mode or a channel name that could carry more into the
    application's data is refused before anything is sent."""
    async with FakeAmi() as ami, running(ami) as gateway:
        ami.reply("Originate", response("Originate successfully queued"))
        await gateway.spy("PJSIP/8101", "PJSIP/8001-0000002a", "whisper",
                          caller_name="班长耳语 8001")
        for phone, channel, mode in (("PJSIP/8101", "PJSIP/8001-0000002a,B", "listen"),
                                     ("PJSIP/8101", "PJSIP/8001-0000002a", "shout"),
                                     ("Local/x@y)", "PJSIP/8001-0000002a", "listen"),
                                     ("PJSIP/8101", "PJSIP/8001 ${X}", "barge")):
            with pytest.raises(ValueError, match=r"spy mode|not a channel ChanSpy"):
                await gateway.spy(phone, channel, mode, caller_name="x")
        [sent] = ami.received("Originate")
    assert {k: v for k, v in headers(sent).items() if k != "CallerID"} == {
        "Action": "Originate", "Channel": "PJSIP/8101", "Application": "ChanSpy",
        "Data": "PJSIP/8001-0000002a,qwES", "Async": "true", "Timeout": "30000"}


def test_the_seat_channel_spied_on_is_its_bridged_first_local_half() -> None:
    """Of a Local seat's pair the ;1 half in the caller's bridge; a PJSIP seat's own
    bridged channel; none for a seat whose channels are not bridged (ringing)."""
    from hotline.core.calls.live import ChannelInfo
    from hotline.pbx.channels import channel_device, seat_channel

    def info(name: str, bridge: str) -> ChannelInfo:
        return ChannelInfo(name, "u", "l", "AppDial", "", "seats", bridge, timedelta(),
                           None, None, channel_device(name))

    pair = [info("Local/8001@seats-0000000a;2", ""), info("Local/8001@seats-0000000a;1",
                                                           "b1")]
    assert seat_channel(pair, "Local/8001@seats/n") == pair[1]
    phone = [info("PJSIP/80010-00000003", "b2"), info("PJSIP/8001-00000004", "b3")]
    assert seat_channel(phone, "PJSIP/8001") == phone[1]
    assert seat_channel([info("PJSIP/8001-00000005", "")], "PJSIP/8001") is None
