"""SIPp scenarios of a taxpayer calling the line over the carrier's trunk (pure: XML out).

SIPp (Debian's `sip-tester`) plays the carrier: it sends the INVITE from the trunk's
address (pjsip.conf identifies the carrier by it), answers Asterisk's 200 with an ACK,
presses keys as RFC 4733 events (SIPp's `play_dtmf`: it writes the RTP events itself,
payload type 96, which the offer names telephone-event), and hangs up, or waits for the
line to hang up. The keys are timed from the answer (SIPp hears no prompt): each is
pressed `pause` seconds after the previous one was sent, so a key lands while a menu
reads keys (barge-in into its greeting) when the pauses are shorter than the greetings.

One SIPp run can mix callers of several kinds (mixed_scenario: each call's number and
kind from its line of an injection file), since the carrier's trunk is one address and
port and so one SIPp at a time.

Two response-time measures go to SIPp's RTT trace (`-trace_rtt`): `answer` (INVITE sent
to 200 received) and `length` (INVITE sent to the end of the call).
`play_dtmf` sends from a raw socket: SIPp must run as root (as the sandbox does).
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

# SIPp's play_dtmf writes its events with payload type 96 (and 400 ms of RTP no-op
# packets first, type 97, that Asterisk drops).
DTMF_PAYLOAD = 96
KEY_CHARS = re.compile(r"^[0-9*#A-D]+$")
NUMBER = re.compile(r"^\+?[0-9]{3,20}$")
# Debian's sip-tester ships this capture: 7.05 s of G.711 A-law RTP.
G711A_PCAP = "/usr/share/sip-tester/g711a.pcap"
G711A_PCAP_SECONDS = 7.05
# The caller's audio starts this long after the last key was sent (see caller_scenario).
AUDIO_AFTER_KEY_MS = 1000


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


def caller_scenario(number: str | None, steps: Sequence[Press], *, name: str | None = None,
                    hang_up_after: float | None = None, wait_for_hangup: float = 60.0,
                    extension: str = "12366", audio: str | None = None) -> str:
    """A call from `number` to `extension` that presses `steps`, then hangs up after
    `hang_up_after` s, or (None) waits up to `wait_for_hangup` s for the line to hang up
    (a call that is still up then fails).

    `number` None: a caller who withholds their number, as carriers send it (RFC 3323:
    From "Anonymous" <sip:anonymous@anonymous.invalid>, no P-Asserted-Identity).
    `audio`: a pcap of G.711 A-law RTP (such as G711A_PCAP) that the caller plays once
    after the keys, as a caller talking; the offer is A-law alone then, the pcap's codec."""
    if number is not None and not NUMBER.match(number):
        raise ValueError(f"{number!r} is not a phone number")
    if audio is not None and (not audio.endswith(".pcap") or any(c in audio for c in '"<>&,')):
        raise ValueError(f"{audio!r} is not a pcap file's path")
    if not NUMBER.match(extension):
        raise ValueError(f"{extension!r} is not a number to dial")
    _check_steps(steps)
    if name and any(c in name for c in '"\\\r\n'):
        raise ValueError("a caller name has no quotes, backslashes or line breaks")
    if number is None:
        sender = '"Anonymous" <sip:anonymous@anonymous.invalid>'
        identity = ""
        contact = "anonymous"
    else:
        display = f'"{escape(name)}" ' if name else ""
        sender = f"{display}<sip:{number}@[local_ip]:[local_port]>"
        identity = f"      P-Asserted-Identity: {display}<sip:{number}@[local_ip]>\n"
        contact = number
    codecs = "8" if audio is not None else "0 8"
    parts = [_HEAD, _INVITE.format(ext=extension, sender=sender, identity=identity,
                                   contact=contact, codecs=codecs, pt=DTMF_PAYLOAD)]
    parts += [_press(step) for step in steps]
    if audio is not None:
        # Once the last key is fully out: play_dtmf sends 400 ms of no-op packets, the
        # tone, then its end packets. With the pcap started 600 ms after the key, the
        # key's end never reached Asterisk, which ended the key only at its DTMF timeout,
        # 3.2 s late, and the menu went on 3.2 s later (AMI's DTMFBegin/DTMFEnd); with
        # 1,000 ms both keys ended 100 ms after they began. The audio plays on
        # while the scenario goes on (a pause after it would make a BYE that comes
        # meanwhile an unexpected message).
        parts.append(f'  <pause milliseconds="{AUDIO_AFTER_KEY_MS}"/>\n'
                     f'  <nop><action><exec play_pcap_audio="{escape(audio)}"/>'
                     "</action></nop>\n")
    if hang_up_after is not None:
        parts.append(f'  <pause milliseconds="{round(hang_up_after * 1000)}"/>\n' + _BYE)
    else:
        parts.append(_WAIT_BYE.format(ms=round(wait_for_hangup * 1000), ontimeout=""))
    parts.append("</scenario>\n")
    return "".join(parts)


@dataclass(frozen=True)
class CallerKind:
    """One kind of caller of a mixed run (mixed_scenario): it presses `steps`, then hangs
    up `hang_up_after` s after the last of them (the answer, without keys) unless the line
    hangs up first; None: it waits for the line to hang up."""

    name: str
    steps: tuple[Press, ...] = ()
    hang_up_after: float | None = None


KIND_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def mixed_scenario(kinds: Sequence[CallerKind], *, wait_for_hangup: float = 60.0,
                   extension: str = "12366") -> str:
    """Callers of several kinds in one SIPp run (the trunk is one address and port: one
    SIPp). Each call takes its number and its kind's name from its line of the injection
    file (`injection`, SIPp's -inf): `[field0]` is the number (From and
    P-Asserted-Identity), `[field1]` the kind. A caller who waits for the line fails after
    `wait_for_hangup` s; one that hangs up itself answers the line's BYE if that comes
    first (a seat that answered and hung up). SIPp stops with an error at a kind it was
    not given."""
    if not kinds or len({k.name for k in kinds}) != len(kinds):
        raise ValueError("give each caller kind once, with a name of its own")
    if not NUMBER.match(extension):
        raise ValueError(f"{extension!r} is not a number to dial")
    for kind in kinds:
        if not KIND_NAME.match(kind.name):
            raise ValueError(f"{kind.name!r} is not a caller kind's name (a-z, 0-9, _)")
        _check_steps(kind.steps)
        if kind.hang_up_after is not None and kind.hang_up_after <= 0:
            raise ValueError(f"caller kind {kind.name}: hang_up_after must be positive")
    parts = [_HEAD, _INVITE.format(
        ext=extension, sender="<sip:[field0]@[local_ip]:[local_port]>",
        identity="      P-Asserted-Identity: <sip:[field0]@[local_ip]>\n",
        contact="[field0]", codecs="0 8", pt=DTMF_PAYLOAD)]
    tests = "".join(f'    <strcmp assign_to="cmp{n}" variable="kind" value="{kind.name}"/>\n'
                    f'    <test assign_to="is{n}" variable="cmp{n}" compare="equal" '
                    'value="0"/>\n' for n, kind in enumerate(kinds))
    parts.append('  <nop><action>\n    <assignstr assign_to="kind" value="[field1]"/>\n'
                 f"{tests}  </action></nop>\n")
    parts += [f'  <nop next="kind{n}" test="is{n}"/>\n' for n in range(len(kinds))]
    parts.append('  <nop><action><error message="no caller kind [field1]"/></action></nop>\n')
    for n, kind in enumerate(kinds):
        parts.append(f'  <label id="kind{n}"/>\n')
        parts += [_press(step) for step in kind.steps]
        if kind.hang_up_after is None:
            parts.append(_WAIT_BYE.format(ms=round(wait_for_hangup * 1000), ontimeout=""))
        else:
            parts.append(_WAIT_BYE.format(ms=round(kind.hang_up_after * 1000),
                                          ontimeout=f' ontimeout="hangup{n}"'))
            parts.append(f'  <nop next="end"/>\n  <label id="hangup{n}"/>\n' + _BYE)
        parts.append('  <nop next="end"/>\n')
    parts.append('  <label id="end"/>\n</scenario>\n')
    return "".join(parts)


def injection(calls: Sequence[tuple[str, str]]) -> str:
    """SIPp's injection file (-inf) for mixed_scenario: a (number, kind) a call, in order."""
    for number, kind in calls:
        if not NUMBER.match(number) or not KIND_NAME.match(kind):
            raise ValueError(f"bad call {(number, kind)!r}: a phone number and a kind's name")
    return "SEQUENTIAL\n" + "".join(f"{number};{kind};\n" for number, kind in calls)


def _check_steps(steps: Sequence[Press]) -> None:
    for step in steps:
        if not KEY_CHARS.match(step.keys) or step.pause < 0 or not 50 <= step.tone_ms <= 2000:
            raise ValueError(f"bad key press {step!r}")


def _press(step: Press) -> str:
    return (f'  <pause milliseconds="{round(step.pause * 1000)}"/>\n'
            f'  <nop><action><exec play_dtmf="{step.keys},{step.tone_ms}"/>'
            "</action></nop>\n")


_HEAD = """<?xml version="1.0" encoding="UTF-8" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<!-- Written by hotline.pbx.sipp: a taxpayer calling the line over the carrier's trunk. -->
<scenario name="hotline caller">
"""

_INVITE = """  <send retrans="500" start_rtd="answer">
    <![CDATA[
      INVITE sip:{ext}@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: {sender};tag=[pid]SIPpTag[call_number]
      To: <sip:{ext}@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:{contact}@[local_ip]:[local_port]>
{identity}      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=- [pid][call_number] 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP {codecs} {pt}
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
      Contact: <sip:{contact}@[local_ip]:[local_port]>
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

_WAIT_BYE = """  <recv request="BYE" timeout="{ms}" rtd="length"{ontimeout}/>
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


def _alaw(sample: int) -> int:
    """One 16-bit linear sample as G.711 A-law (ITU-T G.711)."""
    sign = 0x80 if sample >= 0 else 0x00
    # The 13-bit magnitude (negative samples as G.711's reference code takes them).
    value = min(sample >> 3 if sample >= 0 else -(sample >> 3) - 1, 0x0FFF)
    if value < 32:
        code = value >> 1
    else:
        exponent = value.bit_length() - 5  # 1..7
        code = (exponent << 4) | ((value >> exponent) & 0x0F)
    return (code | sign) ^ 0x55


def tone_pcap(seconds: float, hertz: int = 400, level: int = 8000) -> bytes:
    """A pcap of G.711 A-law RTP (payload type 8, 20 ms packets) carrying a sine tone of
    `seconds`, for SIPp's play_pcap_audio (it sends the RTP of each packet at the
    capture's pace from the call's media port; the addresses in the capture are not used).
    `hertz` divides 8,000 by a whole number of periods per packet (400 Hz: 8 in 160)."""
    if seconds <= 0 or 8000 % hertz or (160 * hertz) % 8000:
        raise ValueError("a tone of a positive length whose periods fill a 20 ms packet")
    payload = bytes(_alaw(round(level * math.sin(2 * math.pi * hertz * n / 8000)))
                    for n in range(160))
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]  # Ethernet
    for n in range(round(seconds * 50)):
        rtp = struct.pack("!BBHII", 0x80, 8 | (0x80 if n == 0 else 0), n & 0xFFFF,
                          n * 160, 0x484F544C) + payload
        udp = struct.pack("!HHHH", 4000, 4000, 8 + len(rtp), 0) + rtp
        header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), n & 0xFFFF, 0, 64,
                             17, 0, bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
        checksum = sum(struct.unpack("!10H", header))
        checksum = (checksum & 0xFFFF) + (checksum >> 16)
        ip = header[:10] + struct.pack("!H", ~checksum & 0xFFFF) + header[12:]
        frame = b"\0" * 12 + b"\x08\x00" + ip + udp
        micros = n * 20_000
        out.append(struct.pack("<IIII", micros // 1_000_000, micros % 1_000_000,
                               len(frame), len(frame)) + frame)
    return b"".join(out)
