"""The AMI gateway against a fake AMI server (tests/fakeami.py) replaying recorded
Asterisk 22 transcripts. Each panoramisk 1.4 defect the gateway contains has a test that
fails without the containment, and, where cheap, one showing stock panoramisk still has
the defect."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

import pytest
from panoramisk.actions import Action as StockAction
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.manager import Manager
from panoramisk.message import Message as StockMessage
from structlog.testing import capture_logs

from hotline.core.calls.tracking import ChannelHungUp, IvrEntered, QueueJoined, SeatConnected
from hotline.pbx.ami.message import AmiMessage
from hotline.pbx.events import (
    AgiCommandEnded,
    AgiCommandStarted,
    AsteriskBooted,
    AsteriskShuttingDown,
    CallEvent,
    EarlierAgiFinished,
    KeyReceived,
)
from hotline.pbx.gateway import (
    AgiHangup,
    AmiActionFailed,
    AmiDisconnected,
    AmiGateway,
    AmiLoginRefused,
    AmiTimeout,
    EventGap,
)
from tests.fakeami import (
    GREETING,
    Action,
    FakeAmi,
    event,
    frames,
    response,
    running,
    transcript,
    wait_until,
)

CHANNEL = "PJSIP/trunk-cmcc-00000007"
NAME = "纳税人张三"


class Inbox:
    """A subscriber that keeps what it receives."""

    def __init__(self, gateway: AmiGateway, *patterns: str, queue_size: int = 10_000) -> None:
        self.items: list[AmiMessage | EventGap] = []
        gateway.subscribe(f"inbox-{id(self)}", patterns, self.items.append,
                          queue_size=queue_size)

    @property
    def events(self) -> list[AmiMessage]:
        return [i for i in self.items if isinstance(i, AmiMessage)]

    def names(self) -> list[str | None]:
        return [e.event for e in self.events]

    async def wait_for(self, name: str, timeout: float = 2.0) -> AmiMessage:
        await wait_until(lambda: name in self.names(), timeout, f"event {name}")
        return next(e for e in self.events if e.event == name)


def marker(text: str) -> str:
    return event("UserEvent", {"UserEvent": text})


# -- login ------------------------------------------------------------------------------


async def test_login_sets_connected_and_the_version() -> None:
    """Logging in sends the user, secret and Events: on, sets connected and keeps Asterisk's
    greeting as its version."""
    async with FakeAmi() as ami, running(ami) as gateway:
        assert gateway.connected.is_set()
        assert gateway.asterisk_version == GREETING
        assert gateway.connections == 1
        login = ami.received("Login")[0]
        assert login.get("Username") == "hotline"
        assert login.get("Secret") == ami.secret
        assert login.get("Events") == "on"
        assert gateway.owns_id(login.id)


async def test_refused_login_raises_a_clear_error_and_does_not_retry() -> None:
    """A refused login ends run() with AmiLoginRefused naming user and address, without
    retrying or logging the secret."""
    async with FakeAmi(accept_login=False) as ami:
        gateway = AmiGateway("127.0.0.1", ami.port, "hotline", "wrong-secret",
                             connect_timeout=1.0)
        with capture_logs() as logs, pytest.raises(AmiLoginRefused) as refused:
            await asyncio.wait_for(gateway.run(), 3)
        assert str(refused.value).startswith(
            f"AMI login refused for user hotline at 127.0.0.1:{ami.port}")
        assert "Authentication failed" in str(refused.value)
        # run() itself ended: nothing is left to retry.
        assert len(ami.connections) == 1
        assert len(ami.received("Login")) == 1
        assert not gateway.connected.is_set()
        assert "wrong-secret" not in repr(logs)  # the secret is never logged


# -- actions ----------------------------------------------------------------------------


async def test_an_unanswered_action_times_out_within_its_timeout() -> None:
    """An action nobody answers fails with AmiTimeout within its timeout, and the connection
    stays usable."""
    async with FakeAmi() as ami, running(ami, action_timeout=0.2) as gateway:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(AmiTimeout, match=r"Status got no answer .* within 0\.2 s"):
            await gateway.send({"Action": "Status"})
        assert 0.19 <= loop.time() - started < 0.6
        started = loop.time()
        with pytest.raises(AmiTimeout):
            await gateway.send({"Action": "Status"}, timeout=0.05)
        assert loop.time() - started < 0.4
        assert len(ami.received("Status")) == 2
        # The connection is still fine.
        assert (await gateway.send({"Action": "Ping"}))["Ping"] == "Pong"


async def test_an_error_response_raises_action_failed_with_the_response() -> None:
    """An Error response raises AmiActionFailed carrying it, unless check=False returns
    it."""
    async with FakeAmi() as ami, running(ami) as gateway:
        ami.reply("Hangup", response("No such channel", status="Error"))
        with pytest.raises(AmiActionFailed, match="Hangup failed: No such channel") as failed:
            await gateway.send({"Action": "Hangup", "Channel": CHANNEL})
        assert failed.value.response is not None
        assert failed.value.response["Message"] == "No such channel"
        ami.reply("Hangup", response("No such channel", status="Error"))
        reply = await gateway.send({"Action": "Hangup", "Channel": CHANNEL}, check=False)
        assert not reply.is_success


async def test_send_many_answers_each_action_with_its_response_or_its_error() -> None:
    """Actions sent together (the lease's Setvars) each get their own outcome: the
    response, AmiActionFailed for an Error, AmiTimeout for one never answered; all
    within one timeout, and the connection stays usable."""
    def setvar(action: Action) -> str | None:
        if action.name != "Setvar":
            return None
        channel = action.get("Channel")
        if channel == "gone":
            return response("No such channel", status="Error")
        return None if channel == "stalled" else response("Variable Set")

    async with FakeAmi() as ami, running(ami) as gateway:
        ami.handler = setvar
        loop = asyncio.get_running_loop()
        started = loop.time()
        results = await gateway.send_many(
            [{"Action": "Setvar", "Channel": c, "Variable": "V", "Value": "1"}
             for c in ("ok", "gone", "stalled")], timeout=0.2)
        assert loop.time() - started < 0.6
        assert isinstance(results[0], AmiMessage)
        assert results[0].is_success
        assert isinstance(results[1], AmiActionFailed)
        assert "No such channel" in str(results[1])
        assert isinstance(results[2], AmiTimeout)
        assert [a.get("Channel") for a in ami.received("Setvar")] == ["ok", "gone", "stalled"]
        ok, gone = await gateway.set_channel_variables(["ok", "gone"], "V", "1")
        assert ok is None
        assert isinstance(gone, AmiActionFailed)
        assert (await gateway.send({"Action": "Ping"}))["Ping"] == "Pong"


async def test_action_values_reach_asterisk_as_sent_and_injection_is_refused() -> None:
    """Action values (Chinese names too) reach Asterisk as sent; a value with a line break
    is refused before sending."""
    async with FakeAmi() as ami, running(ami) as gateway:
        ami.reply("Setvar", response(None))
        await gateway.send({"Action": "Setvar", "Channel": CHANNEL,
                            "Variable": "CALLER_NAME", "Value": NAME})
        setvar = ami.received("Setvar")[0]
        assert setvar.get("Value") == NAME
        with pytest.raises(ValueError, match="line break"):
            await gateway.send({"Action": "Setvar", "Variable": "X",
                                "Value": "1\r\nAction: Originate"})
        await gateway.send({"Action": "Ping"})
        assert ami.received("Originate") == []


async def test_send_list_collects_an_event_list_that_subscribers_do_not_see() -> None:
    """CoreShowChannels: the events up to the Complete event belong to the action; an
    unrelated event arriving in the middle still reaches subscribers."""
    async with FakeAmi() as ami, running(ami) as gateway:
        inbox = Inbox(gateway, "*")
        parts = frames(transcript("core_show_channels"))
        newchannel = frames(transcript("inbound_call"))[0]
        ami.reply("CoreShowChannels", "".join([*parts[:2], newchannel, *parts[2:]]))
        channels = await gateway.send_list({"Action": "CoreShowChannels"})
        assert [c.event for c in channels] == ["CoreShowChannel"] * 3
        assert [c["CallerIDName"] for c in channels] == [NAME, "座席1001", "纳税人李四"]
        assert channels[0]["Application"] == "Queue"
        await ami.connection.push(marker("after-the-list"))
        await inbox.wait_for("UserEvent")
        assert "Newchannel" in inbox.names()
        assert not [n for n in inbox.names() if n and n.startswith("CoreShowChannel")]


async def test_send_list_queue_status() -> None:
    """send_list collects a list action's events up to its Complete event, with their
    headers intact."""
    async with FakeAmi() as ami, running(ami) as gateway:
        ami.reply("QueueStatus", transcript("queue_status"))
        items = await gateway.send_list({"Action": "QueueStatus", "Queue": "tax-inquiry"})
        assert [i.event for i in items] == ["QueueParams", "QueueMember", "QueueMember",
                                            "QueueEntry"]
        members = {m["Name"]: m for m in items if m.event == "QueueMember"}
        assert members["座席1002"]["PausedReason"] == "午休"
        assert members["座席1001"]["PausedReason"] == ""
        assert items[3]["CallerIDName"] == "纳税人李四"


async def test_a_list_item_is_not_parsed_whole_to_find_the_end_of_the_list() -> None:
    """Telling a list's items from its Complete event reads EventList exactly: an item
    (which has none) is not split into all its headers on the way (a third of a routing
    round's CPU went there); a Complete event spelled `eventlist: complete` still ends
    the list."""
    async with FakeAmi() as ami, running(ami) as gateway:
        ami.reply("QueueStatus", transcript("queue_status"))
        items = await gateway.send_list({"Action": "QueueStatus"})
        assert len(items) == 4
        assert [i._headers for i in items] == [None] * 4  # parsed lazily, still
        lowered = transcript("queue_status").replace("EventList: Complete",
                                                     "eventlist: Complete")
        ami.reply("QueueStatus", lowered)
        assert len(await gateway.send_list({"Action": "QueueStatus"})) == 4


async def test_send_list_error_response_raises() -> None:
    """A list action answered by an Error raises AmiActionFailed."""
    async with FakeAmi() as ami, running(ami) as gateway:
        ami.reply("CoreShowChannels", response("Permission denied", status="Error"))
        with pytest.raises(AmiActionFailed, match="Permission denied"):
            await gateway.send_list({"Action": "CoreShowChannels"})


async def test_events_with_a_pending_action_id_reach_subscribers() -> None:
    """Defect 8: OriginateResponse carries the Originate's ActionID and arrives while the
    action is still pending; it is an event like any other."""
    async with FakeAmi() as ami, running(ami) as gateway:
        inbox = Inbox(gateway, "OriginateResponse")
        ami.reply("Originate", transcript("originate_async"))
        reply = await gateway.send({"Action": "Originate", "Channel": "Local/s@caller",
                                    "Context": "ivr", "Exten": "12366", "Priority": "1",
                                    "CallerID": f'"{NAME}" <055112345678>',
                                    "Async": "true"})
        assert reply["Message"] == "Originate successfully queued"
        originated = await inbox.wait_for("OriginateResponse")
        assert originated.action_id == ami.received("Originate")[0].id
        assert originated["CallerIDName"] == NAME


async def test_event_before_the_response_with_the_same_action_id_reaches_subscribers(
) -> None:
    """An event sent before its action's response, with the same ActionID, still reaches
    subscribers."""
    async with FakeAmi() as ami, running(ami) as gateway:
        inbox = Inbox(gateway, "OriginateResponse")
        reply, originated = frames(transcript("originate_async"))
        ami.reply("Originate", originated + reply)  # the event first, then the response
        await gateway.send({"Action": "Originate", "Channel": "Local/s@caller",
                            "Application": "Wait", "Data": "1", "Async": "true"})
        assert (await inbox.wait_for("OriginateResponse"))["Response"] == "Success"


async def test_stock_panoramisk_hides_events_with_a_pending_action_id() -> None:
    """Stock panoramisk swallows an event carrying a pending ActionID into the action (why
    the gateway frames AMI itself)."""
    protocol, factory = _stock_protocol()
    # as_list=None: what Manager.send_action passes by default.
    future = protocol.send({"Action": "Originate", "Channel": "Local/s@caller",
                            "Async": "true"}, as_list=None)
    action_id = next(iter(protocol.responses))
    protocol.data_received(transcript("originate_async").replace(
        "{ActionID}", action_id).encode())
    assert factory.dispatched == []  # OriginateResponse went into the action's future
    assert [m["Event"] for m in future.result() if "Event" in m] == ["OriginateResponse"]


async def test_queue_add_resolves() -> None:
    """Defect 2: "Added interface to queue" completes QueueAdd (panoramisk waits for more)."""
    async with FakeAmi() as ami, running(ami) as gateway:
        ami.reply("QueueAdd", transcript("queue_add"))
        reply = await gateway.send({"Action": "QueueAdd", "Queue": "tax-inquiry",
                                    "Interface": "Local/1001@seats/n",
                                    "MemberName": "座席1001",
                                    "StateInterface": "Custom:seat-1001"}, timeout=0.5)
        assert reply["Message"] == "Added interface to queue"
        assert ami.received("QueueAdd")[0].get("MemberName") == "座席1001"


async def test_stock_panoramisk_queue_add_never_resolves() -> None:
    """Stock panoramisk never resolves a QueueAdd answered as Asterisk 22 answers it."""
    action = StockAction({"Action": "QueueAdd", "Queue": "tax-inquiry"})
    text = transcript("queue_add").replace("{ActionID}", action.id)
    action.add_message(_stock_message(text))
    assert not action.future.done()


async def test_play_dtmf_resolves_and_keeps_the_connection() -> None:
    """Defect 3: "DTMF successfully queued" without an Async header."""
    async with FakeAmi() as ami, running(ami) as gateway:
        ami.reply("PlayDTMF", transcript("play_dtmf"))
        reply = await gateway.send({"Action": "PlayDTMF", "Channel": CHANNEL, "Digit": "7",
                                    "Receive": "true"}, timeout=0.5)
        assert reply["Message"] == "DTMF successfully queued"
        assert (await gateway.send({"Action": "Ping"}))["Ping"] == "Pong"
        assert len(ami.connections) == 1
        assert gateway.connections == 1


async def test_stock_panoramisk_play_dtmf_raises_key_error() -> None:
    """Stock panoramisk raises KeyError on Asterisk 22's PlayDTMF response."""
    action = StockAction({"Action": "PlayDTMF", "Channel": CHANNEL, "Digit": "7"})
    text = transcript("play_dtmf").replace("{ActionID}", action.id)
    with pytest.raises(KeyError, match="async"):
        action.add_message(_stock_message(text))


# -- AsyncAGI ---------------------------------------------------------------------------


async def test_agi_command_resolves_on_async_agi_exec() -> None:
    """Defect 1: Asterisk 22 ends a command with `Event: AsyncAGIExec` (CommandID and a
    URL-encoded Result), not the pre-12 `AsyncAGI` / `SubEvent: Exec`."""
    async with FakeAmi() as ami, running(ami) as gateway:
        ami.reply("AGI", transcript("agi_wait_for_digit"))
        result = await gateway.agi(CHANNEL, "WAIT FOR DIGIT 5000", timeout=1.0)
        assert (result.code, result.result, result.digit) == (200, "49", "1")
        sent = ami.received("AGI")[0]
        assert sent.get("Channel") == CHANNEL
        assert sent.get("Command") == "WAIT FOR DIGIT 5000"
        assert sent.get("CommandID")


async def test_agi_results_are_matched_by_command_id() -> None:
    """An AGI result goes to the command whose CommandID it carries, not to another
    channel's."""
    async with FakeAmi() as ami, running(ami) as gateway:
        ami.handler = lambda action: (response("Added AGI command to queue")
                                      if action.name == "AGI" else None)
        other = "PJSIP/trunk-cmcc-00000009"
        first = asyncio.create_task(gateway.agi(CHANNEL, "WAIT FOR DIGIT 5000", timeout=1))
        second = asyncio.create_task(gateway.agi(other, "WAIT FOR DIGIT 5000", timeout=1))
        await ami.wait_action("AGI", 2)
        by_channel = {a.get("Channel"): a.get("CommandID") for a in ami.received("AGI")}
        await ami.connection.push(
            event("AsyncAGIExec", {"Channel": other, "CommandID": "someone-else",
                                   "Result": "200%20result%3D50%0A"})
            + event("AsyncAGIExec", {"Channel": other, "CommandID": by_channel[other] or "",
                                     "Result": "200%20result%3D51%0A"}))
        assert (await second).digit == "3"
        assert not first.done()
        await ami.connection.push(
            event("AsyncAGIExec", {"Channel": CHANNEL, "CommandID": by_channel[CHANNEL] or "",
                                   "Result": "200%20result%3D0%20(timeout)%0A"}))
        result = await first
        assert result.digit is None
        assert result.data == "timeout"


async def test_agi_fails_with_agi_hangup_when_the_channel_leaves_first() -> None:
    """An AGI command whose channel hangs up first fails with AgiHangup, and the events
    still reach subscribers."""
    async with FakeAmi() as ami, running(ami) as gateway:
        inbox = Inbox(gateway, "Hangup", "AsyncAGIEnd")
        ami.reply("AGI", transcript("agi_channel_gone"))
        with pytest.raises(AgiHangup, match=re.escape(CHANNEL)):
            await gateway.agi(CHANNEL, 'STREAM FILE "zh/welcome" ""', timeout=1.0)
        await inbox.wait_for("Hangup")  # the events still reach subscribers
        assert inbox.names() == ["AsyncAGIEnd", "Hangup"]


async def test_agi_end_of_another_channel_does_not_fail_the_command() -> None:
    """AsyncAGIEnd of another channel does not end a pending AGI command."""
    async with FakeAmi() as ami, running(ami) as gateway:
        parts = frames(transcript("agi_wait_for_digit"))
        other_end = event("AsyncAGIEnd", {"Channel": "PJSIP/trunk-cmcc-00000009"})
        ami.reply("AGI", parts[0] + other_end + "".join(parts[1:]))
        assert (await gateway.agi(CHANNEL, "WAIT FOR DIGIT 5000", timeout=1.0)).digit == "1"


async def test_stock_panoramisk_agi_never_resolves_on_asterisk_22() -> None:
    """Stock panoramisk's AGI command never resolves against Asterisk 22's replies."""
    protocol, _ = _stock_protocol()
    future = protocol.send({"Action": "AGI", "Channel": CHANNEL,
                            "Command": "WAIT FOR DIGIT 5000", "CommandID": "cmd-1"},
                           as_list=None)  # as Manager.send_agi_command sends it
    action_id = next(k for k in protocol.responses if k != "cmd-1")
    protocol.data_received(transcript("agi_wait_for_digit").replace(
        "{ActionID}", action_id).replace("{CommandID}", "cmd-1").encode())
    assert not future.done()


# -- chunked bytes ----------------------------------------------------------------------


async def test_chinese_name_split_across_tcp_reads_arrives_whole() -> None:
    """Defect 5, end to end: the event is cut inside 纳 and inside the frame's CRLF."""
    async with FakeAmi() as ami, running(ami) as gateway:
        inbox = Inbox(gateway, "Newchannel", "AsyncAGIStart")
        data = transcript("inbound_call").encode()
        name_at = data.index(NAME.encode())
        end_at = data.index(b"\r\n\r\n")
        await ami.connection.push(data, cut_at=[name_at + 1, name_at + 2, end_at + 3])
        await inbox.wait_for("AsyncAGIStart")
        newchannel, agi_start = inbox.events
        assert newchannel["CallerIDName"] == NAME
        assert agi_start["CallerIDName"] == NAME
        assert "agi_calleridname%3A%20%E7%BA%B3" in agi_start["Env"]


# -- disconnects and reconnects ---------------------------------------------------------


async def test_a_disconnect_fails_the_pending_originate_which_is_never_resent() -> None:
    """Defect 7: the Originate fails with AmiDisconnected, the gateway reconnects by itself
    and logs in again, and Asterisk never sees that Originate a second time."""

    def drop_on_originate(action: Action) -> None:
        if action.name == "Originate":
            action.connection.drop()

    async with FakeAmi() as ami, running(ami) as gateway:
        ami.handler = drop_on_originate
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(AmiDisconnected, match="it was not re-sent"):
            await gateway.send({"Action": "Originate", "Channel": "Local/s@caller",
                                "Context": "ivr", "Exten": "12366", "Priority": "1",
                                "Async": "true"}, timeout=3.0)
        assert loop.time() - started < 2.5  # at once, not at the 3 s timeout (a loaded CI machine)
        second = await ami.wait_connections(2)
        await wait_until(lambda: gateway.connections == 2, what="second login")
        await gateway.send({"Action": "Ping"})  # after FullyBooted on the new connection
        assert len(ami.received("Originate")) == 1
        assert [a.name for a in second.actions] == ["Login", "Ping"]


async def test_an_action_while_disconnected_fails_at_once() -> None:
    """An action while disconnected fails at once with AmiDisconnected and is not sent after
    reconnecting."""
    async with FakeAmi() as ami, running(ami, backoff_max=0.5) as gateway:
        await ami.stop_listening()
        ami.connection.drop()
        await wait_until(lambda: not gateway.connected.is_set(), what="disconnect")
        with pytest.raises(AmiDisconnected, match="Redirect not sent"):
            await gateway.send({"Action": "Redirect", "Channel": CHANNEL})
        await ami.start_listening()
        await ami.wait_connections(2, timeout=5)  # not a timing claim; a loaded machine
        await gateway.wait_connected(2)
        await gateway.send({"Action": "Ping"})
        assert ami.received("Redirect") == []


async def test_stock_panoramisk_keeps_unanswered_actions_to_resend() -> None:
    """Stock panoramisk keeps unanswered actions to resend after a reconnect (a repeated
    Originate)."""
    protocol, factory = _stock_protocol()
    protocol.send({"Action": "Originate", "Channel": "Local/s@caller", "Async": "true"})
    protocol.close()
    assert [a["Action"] for a in factory.awaiting_actions] == ["Originate"]


async def test_reconnects_with_growing_delays_after_the_server_closes() -> None:
    """After Asterisk closes the connection the gateway retries with growing, capped delays
    and reconnects."""
    async with FakeAmi() as ami, running(ami, backoff_max=0.3) as gateway:
        with capture_logs() as logs:
            await ami.stop_listening()  # Asterisk is restarting: connections are refused
            ami.connection.drop()
            await wait_until(lambda: _count(logs, "ami.reconnecting") >= 3, 3,
                             "three reconnect attempts")
            await ami.start_listening()
            await ami.wait_connections(2, timeout=3)
            await gateway.wait_connected(2)
        delays = [e["delay"] for e in logs if e["event"] == "ami.reconnecting"]
        assert delays[:3] == [0.25, 0.3, 0.3]
        assert _count(logs, "ami.disconnected") == 1
        assert _count(logs, "ami.connect_failed") >= 2
        assert gateway.connections == 2
        assert (await gateway.send({"Action": "Ping"}))["Ping"] == "Pong"


async def test_a_connection_closed_before_the_greeting_is_retried_at_once() -> None:
    """Asterisk past its authlimit closes new connections without a word: the gateway
    retries after its backoff instead of waiting out connect_timeout each time."""
    async with FakeAmi() as ami:
        ami.close_on_accept = 2
        gateway = AmiGateway("127.0.0.1", ami.port, ami.username, ami.secret,
                             connect_timeout=3.0)
        task = asyncio.create_task(gateway.run())
        try:
            with capture_logs() as logs:
                await gateway.wait_connected(2.0)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert len(ami.connections) == 3
        assert _count(logs, "ami.connect_failed") == 2


async def test_on_connect_callbacks_run_after_each_login() -> None:
    """After every login (the first and each reconnect) the callbacks run, may already
    send actions, and a failing one is logged without stopping the others."""
    async with FakeAmi() as ami:
        calls: list[int] = []
        gateway = AmiGateway("127.0.0.1", ami.port, ami.username, ami.secret,
                             connect_timeout=1.0)

        async def resync() -> None:
            calls.append(gateway.connections)
            await gateway.send({"Action": "CoreShowChannels"}, check=False)

        async def broken() -> None:
            raise RuntimeError("resync bug")

        ami.reply("CoreShowChannels", response("Channels will follow"),
                  response("Channels will follow"))
        gateway.on_connect(broken)
        gateway.on_connect(resync)
        task = asyncio.create_task(gateway.run())
        try:
            with capture_logs() as logs:
                await gateway.wait_connected(2)
                assert calls == [1]  # `connected` comes after the callbacks
                ami.connection.drop()
                await wait_until(lambda: len(calls) == 2, what="second on_connect")
                await gateway.wait_connected(2)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert calls == [1, 2]
        assert [[a.name for a in c.actions] for c in ami.connections] == [
            ["Login", "CoreShowChannels"], ["Login", "CoreShowChannels"]]
        assert _count(logs, "ami.on_connect_failed") == 2


async def test_watchdog_notices_a_half_open_connection_and_reconnects() -> None:
    """The watchdog's unanswered Ping notices a half-open connection and the gateway
    reconnects."""
    async with FakeAmi() as ami, running(ami, watchdog_interval=0.2) as gateway:
        with capture_logs() as logs:
            ami.connection.silent = True  # the socket stays open, nothing is answered
            second = await ami.wait_connections(2, timeout=3)
            await gateway.wait_connected(1)
        assert _count(logs, "ami.watchdog_timeout") == 1
        assert ami.connections[0].actions[-1].name == "Ping"  # it asked before giving up
        assert gateway.connections == 2
        assert second.actions[0].name == "Login"


async def test_a_stalled_connection_is_reset_so_nothing_it_held_is_delivered_later() -> None:
    """The watchdog drops a half-open connection with a reset, not a close: actions still
    unsent (a lease refresh) must not reach Asterisk when the route heals, where a late
    one would re-arm the timeout of a caller already in the fallback's queue."""
    async with FakeAmi() as ami, running(ami, watchdog_interval=0.2):
        first = ami.connection
        first.silent = True
        await ami.wait_connections(2, timeout=3)
        async with asyncio.timeout(2):
            await first.closed.wait()
        assert first.reset


async def test_contact_is_lost_when_the_socket_closes_not_at_the_last_message() -> None:
    """Asterisk killed after a quiet spell: its socket closes at once (EOF or reset), and
    the calls were alive until then (a live Asterisk would have told of a hang-up), so the
    loss time is the close, not the last message (a quiet line may be seconds old)."""
    import time

    async with FakeAmi() as ami, running(ami) as gateway:
        await asyncio.sleep(0.6)  # nothing received meanwhile
        closed = time.time()
        ami.connection.drop()
        await wait_until(lambda: gateway.lost_contact_at is not None, what="the loss")
        assert gateway.lost_contact_at == pytest.approx(closed, abs=0.1)


async def test_a_silent_link_the_watchdog_gives_up_on_is_lost_since_its_last_message(
        ) -> None:
    """Half-open: nothing says when Asterisk stopped, so the loss time is the last message
    received, not the moment the watchdog gave up (an interval or two later)."""
    import time

    async with FakeAmi() as ami, running(ami, watchdog_interval=0.3) as gateway:
        await gateway.send({"Action": "Ping"})
        heard = time.time()
        ami.connection.silent = True
        await ami.wait_connections(2, timeout=3)
        assert gateway.lost_contact_at is not None
        assert gateway.lost_contact_at == pytest.approx(heard, abs=0.1)
        assert time.time() - gateway.lost_contact_at >= 0.3


class _Booting(FakeAmi):
    """A fake Asterisk whose FullyBooted says `uptime`; None: still starting (it says
    nothing at the login, FullyBooted comes later)."""

    uptime: int | None = 100

    def _login(self, action: Action) -> str:
        reply = super()._login(action)
        return reply if self.uptime is None else reply + _booted(self.uptime)


def _booted(uptime: int) -> str:
    return event("FullyBooted", {"Privilege": "system,all", "Uptime": str(uptime),
                                 "LastReload": str(uptime), "Status": "Fully Booted"})


async def test_a_restarted_asterisk_is_told_from_the_same_one_reconnected() -> None:
    """After a reconnect, FullyBooted's Uptime says whether Asterisk is the one of the
    connection before (a cut link: its calls may live on) or another (restarted or
    crashed and started again: its calls are gone), before the resync runs."""
    async with _Booting(fully_booted=False) as ami:
        seen: list[bool] = []
        gateway = AmiGateway("127.0.0.1", ami.port, ami.username, ami.secret,
                             connect_timeout=1.0, backoff_max=0.1)

        async def resync() -> None:
            seen.append(gateway.asterisk_restarted)

        gateway.on_connect(resync)
        task = asyncio.create_task(gateway.run())
        try:
            with capture_logs() as logs:
                await gateway.wait_connected(2)
                ami.connection.drop()  # the link is cut; the same Asterisk answers again
                await wait_until(lambda: len(seen) == 2, 3, "the second resync")
                ami.uptime = 1  # Asterisk crashed; a new one has run for 1 s
                ami.connection.drop()
                await wait_until(lambda: len(seen) == 3, 3, "the third resync")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert seen == [False, False, True]
        assert _count(logs, "ami.asterisk_restarted") == 1


async def test_the_resync_waits_for_a_starting_asterisk_to_be_fully_booted() -> None:
    """AMI answers while Asterisk is still starting: the resync (which needs its queues)
    runs once FullyBooted comes, and a restart is noticed before it."""
    async with _Booting(fully_booted=False) as ami:
        seen: list[bool] = []
        gateway = AmiGateway("127.0.0.1", ami.port, ami.username, ami.secret,
                             connect_timeout=3.0, backoff_max=0.1)

        async def resync() -> None:
            seen.append(gateway.asterisk_restarted)

        gateway.on_connect(resync)
        task = asyncio.create_task(gateway.run())
        try:
            await gateway.wait_connected(2)
            ami.uptime = None
            ami.connection.drop()
            second = await ami.wait_connections(2, timeout=3)
            await asyncio.sleep(0.3)
            assert seen == [False]  # logged in, not yet booted: no resync yet
            second.send(_booted(0))
            await wait_until(lambda: len(seen) == 2, 2, "the resync once booted")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert seen == [False, True]


async def test_watchdog_stays_quiet_while_the_line_is_alive() -> None:
    """While Pings are answered the watchdog keeps the one connection."""
    async with FakeAmi() as ami, running(ami, watchdog_interval=0.1) as gateway:
        with capture_logs() as logs:
            await wait_until(lambda: len(ami.received("Ping")) >= 2, what="two pings")
        assert _count(logs, "ami.watchdog_timeout") == 0
        assert gateway.connections == 1
        assert len(ami.connections) == 1


# -- consumers --------------------------------------------------------------------------


async def test_a_consumer_that_raises_is_logged_and_keeps_receiving() -> None:
    """Defect 4: an exception in a consumer neither kills it nor the connection."""
    async with FakeAmi() as ami, running(ami) as gateway:
        received: list[str | None] = []

        def tracker(item: AmiMessage | EventGap) -> None:
            assert isinstance(item, AmiMessage)
            if item.event == "Newchannel":
                raise RuntimeError("tracker bug")
            received.append(item.event)

        gateway.subscribe("tracker", ["Newchannel", "AsyncAGIStart", "Hangup"], tracker)
        with capture_logs() as logs:
            await ami.connection.push(transcript("inbound_call"))
            await wait_until(lambda: received == ["AsyncAGIStart"], what="AsyncAGIStart")
            await ami.connection.push(transcript("call_to_seat"))
            await wait_until(lambda: received == ["AsyncAGIStart", "Hangup"], what="Hangup")
        failed = [e for e in logs if e["event"] == "ami.consumer_failed"]
        assert len(failed) == 1
        assert failed[0]["consumer"] == "tracker"
        assert failed[0]["ami_event"] == "Newchannel"
        assert failed[0]["log_level"] == "error"
        assert gateway.connections == 1
        assert len(ami.connections) == 1
        assert (await gateway.send({"Action": "Ping"}))["Ping"] == "Pong"


async def test_unsubscribe_ends_deliveries_and_the_consumer_task() -> None:
    """After unsubscribe() a consumer gets no more events and its task has ended; the
    other consumers go on."""
    async with FakeAmi() as ami, running(ami) as gateway:
        gone: list[str] = []
        kept = Inbox(gateway, "UserEvent")
        subscription = gateway.subscribe("gone", ["UserEvent"],
                                         lambda item: gone.append(item["UserEvent"]))
        await ami.connection.push(marker("one"))
        await wait_until(lambda: gone == ["one"], what="the first event")
        subscription.unsubscribe()
        subscription.unsubscribe()  # twice: no harm
        task = subscription.consumer.task
        assert task is not None
        await wait_until(task.done, what="the consumer's task to end")
        await ami.connection.push(marker("two"))
        await kept.wait_for("UserEvent")
        await wait_until(lambda: len(kept.events) == 2, what="the second event")
        assert gone == ["one"]
        with pytest.raises(KeyError):
            await gateway.caught_up("gone")


async def test_an_async_consumer_that_raises_is_logged_too() -> None:
    """An async subscriber that raises is logged with the event, and later events still
    reach it."""
    async with FakeAmi() as ami, running(ami) as gateway:
        received: list[str] = []

        async def tracker(item: AmiMessage | EventGap) -> None:
            assert isinstance(item, AmiMessage)
            if item["UserEvent"] == "bad":
                raise RuntimeError("tracker bug")
            received.append(item["UserEvent"])

        gateway.subscribe("tracker", ["UserEvent"], tracker)
        with capture_logs() as logs:
            await ami.connection.push(marker("bad") + marker("good"))
            await wait_until(lambda: received == ["good"], what="the good event")
        assert [e["ami_event"] for e in logs if e["event"] == "ami.consumer_failed"] == [
            "UserEvent"]


async def test_stock_panoramisk_callback_exception_escapes_data_received() -> None:
    """An exception out of data_received makes asyncio close the connection."""

    def callback(manager: Any, message: Any) -> None:
        raise RuntimeError("tracker bug")

    manager = Manager(loop=asyncio.get_running_loop())
    manager.register_event("Newchannel", callback)
    protocol = AMIProtocol()
    protocol.connection_made(_Transport())
    protocol.factory = manager
    protocol.encoding = "utf8"
    with pytest.raises(RuntimeError, match="tracker bug"):
        protocol.data_received(frames(transcript("inbound_call"))[0].encode())


async def test_a_slow_consumer_gets_a_gap_instead_of_silently_missing_events() -> None:
    """A subscriber whose queue overflows gets an EventGap where events were dropped, and
    others get them all."""
    async with FakeAmi() as ami, running(ami) as gateway:
        gate = asyncio.Event()
        items: list[AmiMessage | EventGap] = []

        async def slow(item: AmiMessage | EventGap) -> None:
            items.append(item)
            await gate.wait()

        gateway.subscribe("slow", ["UserEvent"], slow, queue_size=5)
        fast = Inbox(gateway, "UserEvent")
        with capture_logs() as logs:
            await ami.connection.push("".join(marker(str(n)) for n in range(1, 21)))
            await wait_until(lambda: len(fast.events) == 20, what="20 events")
            gate.set()
            await wait_until(lambda: len(items) >= 5, what="the five queued events")
            await ami.connection.push(marker("21"))
            await wait_until(lambda: len(items) == 7, what="event 21")
        assert [i["UserEvent"] for i in items[:5] if isinstance(i, AmiMessage)] == [
            "1", "2", "3", "4", "5"]
        assert items[5] == EventGap(dropped=15)
        assert isinstance(items[6], AmiMessage)
        assert items[6]["UserEvent"] == "21"
        dropped = [e for e in logs if e["event"] == "ami.events_dropped"]
        assert [(e["consumer"], e["dropped"]) for e in dropped] == [("slow", 15)]
        # The fast consumer lost nothing; the connection is unaffected.
        assert [e["UserEvent"] for e in fast.events] == [str(n) for n in range(1, 22)]
        assert gateway.connections == 1


async def test_a_gap_is_delivered_even_if_no_later_event_comes() -> None:
    """The EventGap reaches a slow subscriber once its queue drains, even if no later event
    comes."""
    async with FakeAmi() as ami, running(ami) as gateway:
        gate = asyncio.Event()
        items: list[AmiMessage | EventGap] = []

        async def slow(item: AmiMessage | EventGap) -> None:
            items.append(item)
            await gate.wait()

        gateway.subscribe("slow", ["UserEvent"], slow, queue_size=2)
        await ami.connection.push("".join(marker(str(n)) for n in range(1, 6)))
        await wait_until(lambda: len(items) == 1, what="the first event")
        gate.set()
        await wait_until(lambda: len(items) == 3 and isinstance(items[-1], EventGap),
                         what="the gap after the queue drained")
        assert items[-1] == EventGap(dropped=3)


async def test_subscription_patterns() -> None:
    """A subscription takes glob patterns and ignores case in event names."""
    async with FakeAmi() as ami, running(ami) as gateway:
        queue_events = Inbox(gateway, "Queue*", "agentconnect")
        await ami.connection.push(transcript("inbound_call") + transcript("call_to_seat"))
        await queue_events.wait_for("AgentConnect")
        assert queue_events.names() == ["QueueCallerJoin", "AgentConnect"]


# -- helpers for the stock panoramisk comparisons ---------------------------------------


class _Factory:
    """Just enough of panoramisk's Manager for AMIProtocol."""

    def __init__(self) -> None:
        self.dispatched: list[Any] = []
        self.awaiting_actions: list[Any] = []
        self.forgetable_actions = ("ping", "login")

    def dispatch(self, message: Any) -> None:
        self.dispatched.append(message)


class _Transport(asyncio.Transport):
    def write(self, data: Any) -> None:
        pass

    def close(self) -> None:
        pass


def _stock_protocol() -> tuple[AMIProtocol, _Factory]:
    protocol = AMIProtocol()
    protocol.connection_made(_Transport())
    factory = _Factory()
    protocol.factory = factory
    protocol.encoding = "utf8"
    return protocol, factory


def _stock_message(text: str) -> Any:
    return StockMessage.from_line(text.strip())


def _count(logs: Iterable[Mapping[str, Any]], name: str) -> int:
    return sum(1 for entry in logs if entry["event"] == name)


# -- typed subscriptions ------------------------------------------------------------------


async def test_subscribe_calls_delivers_typed_events_in_asterisk_order() -> None:
    """subscribe_calls turns recorded AMI events into typed call events, in order: the
    AsyncAGI start with its extension and caller, the AGI command (reads keys), the key
    received (not one sent), an earlier run's finished command, queue and hangup facts."""
    async with FakeAmi() as ami, running(ami) as gateway:
        items: list[object] = []
        gateway.subscribe_calls(items.append)
        own = gateway._next_id()  # an id this run issued: its completion is not delivered
        digit = transcript("agi_wait_for_digit")
        await ami.connection.push(
            transcript("inbound_call") + digit.replace("{CommandID}", "earlier-run-7")
            + digit.replace("{CommandID}", own)
            + event("DTMFEnd", {"Channel": CHANNEL, "Linkedid": "1764230400.14",
                                "Digit": "3", "Direction": "Sent"})
            + event("DTMFEnd", {"Channel": CHANNEL, "Linkedid": "1764230400.14",
                                "Digit": "2", "Direction": "Received"})
            + transcript("call_to_seat") + marker("end"))
        await wait_until(lambda: any(isinstance(i, CallEvent)
                                     and isinstance(i.fact, ChannelHungUp) for i in items),
                         what="the hangup")
        assert not any(isinstance(i, AmiMessage) for i in items)
        start = items[0]
        assert isinstance(start, CallEvent)
        assert isinstance(start.fact, IvrEntered)
        assert (start.fact.channel, start.fact.number, start.extension) == (
            CHANNEL, "055112345678", "12366")
        assert items[1:4] == [
            AgiCommandStarted(CHANNEL, "1764230400.14", reads_keys=True, keys_wanted=1,
                              records=False),
            AgiCommandEnded(CHANNEL, "1764230400.14"),
            EarlierAgiFinished(CHANNEL, "1764230400.14")]
        assert items[4:6] == items[1:3]  # the second run of the command: no completion
        assert items[6] == KeyReceived(CHANNEL, "1764230400.14", "2")
        facts = [type(i.fact) for i in items[7:] if isinstance(i, CallEvent)]
        assert facts[0] is QueueJoined
        assert SeatConnected in facts


async def test_subscribe_calls_hands_a_slow_consumer_an_event_gap() -> None:
    """A call consumer too slow for the events gets an EventGap (and the events after),
    so it knows to resync."""
    async with FakeAmi() as ami, running(ami) as gateway:
        gate = asyncio.Event()
        items: list[object] = []

        async def slow(item: object) -> None:
            items.append(item)
            await gate.wait()

        gateway.unsubscribe(gateway.subscribe_calls(slow))  # a name may be used again
        subscription = gateway.subscribe_calls(slow)
        subscription.consumer.queue = asyncio.Queue(2)
        hangup = event("Hangup", {"Channel": CHANNEL, "Linkedid": "L", "Uniqueid": "L"})
        await ami.connection.push(hangup * 6)
        await wait_until(lambda: len(items) == 1, what="the first hangup")
        gate.set()
        await wait_until(lambda: any(isinstance(i, EventGap) for i in items), what="gap")
        await wait_until(lambda: sum(i.dropped if isinstance(i, EventGap) else 1
                                     for i in items) == 6, what="all six accounted for")
        assert all(isinstance(i, CallEvent | EventGap) for i in items)


async def test_queue_changes_and_lifecycle_are_typed() -> None:
    """subscribe_queue_changes calls its handler on each queue change (not on other
    events); subscribe_lifecycle delivers Asterisk booted and shutting down, typed."""
    async with FakeAmi() as ami, running(ami) as gateway:
        pokes: list[None] = []
        lifecycle: list[object] = []
        gateway.subscribe_queue_changes(lambda: pokes.append(None))
        gateway.subscribe_lifecycle(lifecycle.append)
        await ami.connection.push(
            transcript("fully_booted") + transcript("inbound_call")
            + event("QueueMemberPause", {"Queue": "center", "Paused": "1"})
            + event("Shutdown", {"Shutdown": "Cleanly", "Restart": "False"}))
        await wait_until(lambda: len(lifecycle) == 2, what="boot and shutdown")
        assert lifecycle == [AsteriskBooted("Fully Booted", "8"),
                             AsteriskShuttingDown("Cleanly", "False")]
        assert pokes == [None]
