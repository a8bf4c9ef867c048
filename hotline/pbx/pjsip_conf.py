"""The seats' SIP phones in Asterisk's pjsip.conf, written from config/routing.yaml (pure:
text in, text out; the passwords come from the caller).

A seat whose device is `PJSIP/<name>` gets an endpoint `<name>` (the device Queue rings),
an auth (user `<name>`, the password the sandbox generated and keeps) and an AoR that
one phone registers to (max_contacts = 1; a phone that registers again replaces its
old contact, so a phone restarted after a crash is not locked out). Asterisk checks the
registered phone every QUALIFY_SECONDS: the device turns unavailable when the phone
stops answering (or unregisters), and Queue offers an unavailable seat no call. Seats
on other devices (Local channels) are left out. The template config/asterisk/pjsip.conf
includes this file (`#tryinclude pjsip_seats.conf`) beside the transports and the
carrier's trunk.

A seat with `webrtc: true` works on the browser phone (hotline's /phone page): its
endpoint speaks WebRTC (`webrtc = yes`: DTLS-SRTP with a certificate Asterisk makes for
itself, ICE, AVPF, RTCP multiplexing) and its phone registers over the secure WebSocket
transport; the rest (auth, AoR, qualify, codecs) is as for a SIP phone. Browsers offer
G.711 besides Opus, so the bridge to the carrier's G.711 needs no transcoding.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from hotline.core.routing.config import RoutingConfig
from hotline.pbx.errors import SandboxBadTemplate

FILE_NAME = "pjsip_seats.conf"
# PJSIP/<endpoint> and nothing after: a seat's own phone (not a dial string through a
# trunk such as PJSIP/8001@carrier or PJSIP/carrier/sip:...).
SEAT_DEVICE = re.compile(r"^PJSIP/([0-9A-Za-z_-]{1,32})$")
# The names pjsip.conf itself uses.
RESERVED = frozenset({"carrier", "transport-udp", "transport-wss", "global", "system"})
# Seconds between OPTIONS pings of a registered phone, and how long one may take: a
# phone that vanished without unregistering (crashed, unplugged) is out of service
# within QUALIFY_SECONDS + QUALIFY_TIMEOUT (measured with baresip killed: 18.0 s at 15 s
# and 3 s). Until then a queue may ring the dead phone, and the caller waits out the
# seat's whole ring timeout (15 s) before the next seat is tried: so every 5 s, with 2 s
# to answer (a phone on the centre's LAN answers in a few ms). The cost is one small
# UDP request per phone every 5 s (100 seats: 20 a second).
QUALIFY_SECONDS = 5
QUALIFY_TIMEOUT = 2.0
# Registration lifetime a phone gets when it asks for none, and the bounds on what it
# may ask (an unreachable phone's contact expires within MAX_EXPIRY seconds anyway).
DEFAULT_EXPIRY = 120
MIN_EXPIRY = 60
MAX_EXPIRY = 600


def webrtc_seats(config: RoutingConfig) -> dict[str, str]:
    """The seats whose phone is the browser phone: seat id -> PJSIP endpoint name."""
    return {seat_id: endpoint for seat_id, endpoint in sip_seats(config).items()
            if config.seats[seat_id].webrtc}


def sip_seats(config: RoutingConfig) -> dict[str, str]:
    """The seats whose phones register over SIP: seat id -> PJSIP endpoint name."""
    found: dict[str, str] = {}
    for seat in config.seats.values():
        match = SEAT_DEVICE.match(seat.device)
        if match is not None:
            found[seat.id] = match.group(1)
    return found


def render_seats(config: RoutingConfig, password: Callable[[str], str]) -> str:
    """pjsip_seats.conf for `config`; `password(endpoint)` gives each phone's password."""
    parts = ["; Written by hotline from config/routing.yaml: edit that file, not this one.\n"
             "; Seats whose device is PJSIP/<name>: their phones register here.\n"]
    for seat_id, endpoint in sip_seats(config).items():
        if endpoint in RESERVED:
            raise SandboxBadTemplate(f"seat {seat_id}: PJSIP/{endpoint} is a name pjsip.conf "
                                     "uses itself; give the seat's phone another name")
        secret = password(endpoint)
        if not re.fullmatch(r"[0-9A-Za-z_-]{8,64}", secret):
            raise SandboxBadTemplate(f"seat {seat_id}: the generated SIP password is not "
                                     "of the expected form")
        seat = config.seats[seat_id]
        if seat.webrtc:
            media = [
                "transport = transport-wss",
                # DTLS-SRTP (a certificate Asterisk generates), ICE, AVPF, rtcp-mux:
                # what a browser requires. ICE's only host candidate is loopback
                # (rtp.conf); no STUN.
                "webrtc = yes",
                # The SDP's address: the browser's on this machine (its ICE candidate
                # is 127.0.0.1 too, see rtp.conf).
                "media_address = 127.0.0.1",
                # G.711: the carrier's codec (no transcoding); every browser has it.
                "allow = ulaw,alaw",
            ]
        else:
            media = [
                "transport = transport-udp",
                # G.711 first (the carrier's codec: no transcoding on the bridge); G.722
                # when the phone offers it first.
                "allow = ulaw,alaw,g722",
                "ice_support = no",
            ]
        parts.append("\n".join([
            f"; seat {seat_id} ({seat.name}){', browser phone' if seat.webrtc else ''}",
            f"[{endpoint}]",
            "type = endpoint",
            "context = from-seat-phone",
            f"auth = {endpoint}",
            f"aors = {endpoint}",
            "disallow = all",
            *media,
            "dtmf_mode = rfc4733",
            "direct_media = no",
            "",
            f"[{endpoint}]",
            "type = auth",
            "auth_type = digest",
            f"username = {endpoint}",
            f"password = {secret}",
            "",
            f"[{endpoint}]",
            "type = aor",
            "max_contacts = 1",
            "remove_existing = yes",
            f"qualify_frequency = {QUALIFY_SECONDS}",
            f"qualify_timeout = {QUALIFY_TIMEOUT}",
            f"default_expiration = {DEFAULT_EXPIRY}",
            f"minimum_expiration = {MIN_EXPIRY}",
            f"maximum_expiration = {MAX_EXPIRY}",
            "",
        ]))
    return "\n".join(parts)
