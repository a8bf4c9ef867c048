"""SIPp scenarios of a taxpayer calling the line over the carrier's trunk (pure: XML out).

SIPp (Debian's `sip-tester`) plays the carrier: it sends the INVITE from the trunk's
address (pjsip.conf identifies the carrier by it), answers Asterisk's 200 with an ACK,
presses keys as RFC 4733 events (SIPp's `play_dtmf`: it writes the RTP events itself,
payload type 96, which the offer names telephone-event), and hangs up, or waits for the
line to hang up. The keys are timed from the answer (SIPp hears no prompt): each is
pressed `pause` seconds after the previous one was sent, so a key lands while a menu
reads keys (barge-in into its greeting) when the pauses are shorter than the greetings.

Two response-time measures go to SIPp's RTT trace (`-trace_rtt`): `answer` (INVITE sent
to 200 received) and `length` (INVITE sent to the end of the call).
`play_dtmf` sends from a raw socket: SIPp must run as root (as the sandbox does).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

# SIPp's play_dtmf writes its events with payload type 96 (and 400 ms of RTP no-op
# packets first, type 97, that Asterisk drops).
DTMF_PAYLOAD = 96
KEY_CHARS = re.compile(r"^[0-9*#A-D]+$")
NUMBER = re.compile(r"^\+?[0-9]{3,20}$")


@dataclass(frozen=True)
class Press:
    """Keys sent `pause` seconds after the previous step (the answer, for the first)."""

    pause: float
    keys: str
    tone_ms: int = 100  # each key's length (SIPp accepts 50-2000 ms)


def presses(keys: str, first: float = 1.0, gap: float = 1.5) -> list[Press]:
    """`"1 1"` -> a press of each key, the first `first` s after the answer, then one
    every `gap` s (each key in a menu of its own: a key per greeting)."""
    found = [k for k in keys if not k.isspace()]
    return [Press(first if n == 0 else gap, key) for n, key in enumerate(found)]


def caller_scenario(number: str, steps: Sequence[Press], *, name: str | None = None,
                    hang_up_after: float | None = None, wait_for_hangup: float = 60.0,
                    extension: str = "12366") -> str:
    """A call from `number` to `extension` that presses `steps`, then hangs up after
    `hang_up_after` s, or (None) waits up to `wait_for_hangup` s for the line to hang up
    (a call that is still up then fails)."""
    if not NUMBER.match(number):
        raise ValueError(f"{number!r} is not a phone number")
    if not NUMBER.match(extension):
        raise ValueError(f"{extension!r} is not a number to dial")
    for step in steps:
        if not KEY_CHARS.match(step.keys) or step.pause < 0 or not 50 <= step.tone_ms <= 2000:
            raise ValueError(f"bad key press {step!r}")
    display = f'"{escape(name)}" ' if name else ""
    if name and any(c in name for c in '"\\\r\n'):
        raise ValueError("a caller name has no quotes, backslashes or line breaks")
    parts = [_HEAD, _INVITE.format(ext=extension, num=number, display=display,
                                   pt=DTMF_PAYLOAD)]
    for step in steps:
        parts.append(f'  <pause milliseconds="{round(step.pause * 1000)}"/>\n'
                     f'  <nop><action><exec play_dtmf="{step.keys},{step.tone_ms}"/>'
                     "</action></nop>\n")
    if hang_up_after is not None:
        parts.append(f'  <pause milliseconds="{round(hang_up_after * 1000)}"/>\n' + _BYE)
    else:
        parts.append(_WAIT_BYE.format(ms=round(wait_for_hangup * 1000)))
    parts.append("</scenario>\n")
    return "".join(parts)


_HEAD = """<?xml version="1.0" encoding="UTF-8" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<!-- Written by hotline.pbx.sipp: a taxpayer calling the line over the carrier's trunk. -->
<scenario name="hotline caller">
"""

_INVITE = """  <send retrans="500" start_rtd="answer">
    <![CDATA[
      INVITE sip:{ext}@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: {display}<sip:{num}@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:{ext}@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:{num}@[local_ip]:[local_port]>
      P-Asserted-Identity: {display}<sip:{num}@[local_ip]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=- [pid][call_number] 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 8 {pt}
      a=rtpmap:0 PCMU/8000
      a=rtpmap:8 PCMA/8000
      a=rtpmap:{pt} telephone-event/8000
      a=fmtp:{pt} 0-16
      a=ptime:20
      a=sendrecv
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="answer" start_rtd="length" rrs="true"/>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [last_From:]
      [last_To:]
      [routes]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:{num}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
"""

_BYE = """  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [last_From:]
      [last_To:]
      [routes]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" crlf="true" rtd="length"/>
"""

_WAIT_BYE = """  <recv request="BYE" timeout="{ms}" rtd="length"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
"""


def register_scenario(user: str, password: str, *, expires: int = 120,
                      expect: int = 200, stay: float = 0.0) -> str:
    """A phone registering as `user` (digest auth against Asterisk's challenge), for
    `expires` s (0: unregister); the second answer must be `expect` (401: a wrong password
    is challenged again). The phone then stays `stay` s (run SIPp with -aa: it answers
    Asterisk's qualify OPTIONS meanwhile, as a live phone does)."""
    if not re.fullmatch(r"[0-9A-Za-z_-]{1,32}", user):
        raise ValueError(f"{user!r} is not a SIP user name")
    if not re.fullmatch(r"[0-9A-Za-z_-]{1,64}", password):
        raise ValueError("a password of letters, digits, _ and -")
    head = f"""      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{user}@[remote_ip]>;tag=[pid]SIPpTag[call_number]
      To: <sip:{user}@[remote_ip]>
      Call-ID: [call_id]
      Contact: <sip:{user}@[local_ip]:[local_port]>
      Expires: {int(expires)}
      Max-Forwards: 70
"""
    return (_HEAD.replace("a taxpayer calling the line over the carrier's trunk",
                          "a seat's phone registering")
            + f"""  <send retrans="500">
    <![CDATA[
{head}      CSeq: 1 REGISTER
      Content-Length: 0
    ]]>
  </send>
  <recv response="401" auth="true"/>
  <send retrans="500">
    <![CDATA[
{head}      CSeq: 2 REGISTER
      [authentication username={user} password={password}]
      Content-Length: 0
    ]]>
  </send>
  <recv response="{int(expect)}"/>
  <pause milliseconds="{round(stay * 1000)}"/>
</scenario>
""")
