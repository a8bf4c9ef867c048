"""SIP in the sandbox: pjsip.conf and rtp.conf rendered per instance, the seats' phones
from routing.yaml with generated passwords, and the SIPp caller scenarios."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hotline.common.yamlsrc import load_text
from hotline.core.routing.config import RoutingConfig, parse_routing
from hotline.pbx import sandbox as sandbox_mod
from hotline.pbx.errors import SandboxError
from hotline.pbx.pjsip_conf import render_seats, sip_seats, webrtc_seats
from hotline.pbx.sandbox import Sandbox
from hotline.pbx.sipp import (
    CallerKind,
    Press,
    caller_scenario,
    injection,
    mixed_scenario,
    presses,
)

REPO = Path(__file__).resolve().parents[2]

ROUTING = """
queues:
  center: {name: 综合咨询}
groups:
  centre: {name: 中心, kind: centre}
seats:
  "8001": {name: 座席一, group: centre, device: PJSIP/8001, skills: {center: 5}}
  "8002": {name: 座席二, group: centre, device: Local/8002@seats/n, skills: {center: 5}}
  "8003": {name: 座席三, group: centre, device: PJSIP/8003@carrier, skills: {center: 5}}
"""


def parse_routing_text(text: str) -> RoutingConfig:
    return parse_routing(load_text(text, "routing.yaml"))


def sections(text: str) -> dict[tuple[str, str], dict[str, str]]:
    """pjsip.conf text -> (section, type) -> options."""
    found: dict[tuple[str, str], dict[str, str]] = {}
    name, body = "", {}
    for line in [*text.splitlines(), "[end]"]:
        line = line.split(";")[0].strip()
        if line.startswith("[") and line.endswith("]"):
            if name:
                found[(name, body.get("type", ""))] = body
            name, body = line[1:-1], {}
        elif "=" in line:
            key, _, value = line.partition("=")
            body[key.strip()] = value.strip()
    return found


def test_only_a_seat_on_its_own_pjsip_phone_gets_an_endpoint() -> None:
    """PJSIP/<name> is a seat's phone; a Local seat and a dial string through a trunk are
    not."""
    assert sip_seats(parse_routing_text(ROUTING)) == {"8001": "8001"}


def test_a_seat_phone_registers_with_its_password_one_contact_rfc4733() -> None:
    """The seat's endpoint has an auth with the given password, an AoR for one phone that
    a re-registering phone replaces and that is qualified, RFC 4733 DTMF and G.711 (G.722
    where offered)."""
    asked: list[str] = []

    def password(endpoint: str) -> str:
        asked.append(endpoint)
        return "s3cret-password-of-8001"

    conf = sections(render_seats(parse_routing_text(ROUTING), password))
    assert asked == ["8001"]
    endpoint = conf[("8001", "endpoint")]
    assert (endpoint["auth"], endpoint["aors"], endpoint["dtmf_mode"]) == (
        "8001", "8001", "rfc4733")
    assert endpoint["allow"].split(",") == ["ulaw", "alaw", "g722"]
    assert endpoint["context"] == "from-seat-phone"
    assert conf[("8001", "auth")] == {"type": "auth", "auth_type": "digest",
                                      "username": "8001",
                                      "password": "s3cret-password-of-8001"}
    aor = conf[("8001", "aor")]
    assert (aor["max_contacts"], aor["remove_existing"]) == ("1", "yes")
    assert int(aor["qualify_frequency"]) > 0
    assert ("8002", "endpoint") not in conf


def test_a_seat_named_like_the_trunk_is_refused() -> None:
    """A seat whose phone would be named like pjsip.conf's own sections is an error, not
    a second definition of the carrier."""
    text = ROUTING.replace("PJSIP/8001", "PJSIP/carrier")
    with pytest.raises(SandboxError, match="carrier"):
        render_seats(parse_routing_text(text), lambda _: "a-long-enough-password")


def rendered(tmp_path: Path, name: str = "unit", **kw: object) -> sandbox_mod.Instance:
    sb = Sandbox(tmp_path / "cache", REPO / "config" / "asterisk")
    (sb.root / "usr/lib/x86_64-linux-gnu/asterisk/modules").mkdir(parents=True, exist_ok=True)
    inst = sb.instance(name, 5999, **kw)  # type: ignore[arg-type]
    inst.render_config(generated={})
    return inst


def test_an_instance_has_its_own_sip_port_trunk_and_rtp_range(tmp_path: Path) -> None:
    """pjsip.conf listens on the instance's SIP port (AMI port + 2 unless given) and
    identifies the carrier by its address and port; rtp.conf has the instance's own
    range, wide enough for hundreds of calls, and no ICE for the carrier (ICE is for the
    browser phones alone); instance.json records them."""
    inst = rendered(tmp_path)
    conf = sections((inst.dir / "etc/pjsip.conf").read_text())
    assert conf[("transport-udp", "transport")]["bind"] == "127.0.0.1:6001"
    assert conf[("carrier", "identify")]["match"] == "127.0.0.1:5060"
    assert conf[("carrier", "endpoint")]["context"] == "from-carrier"
    assert conf[("carrier", "endpoint")]["dtmf_mode"] == "rfc4733"
    rtp = sections((inst.dir / "etc/rtp.conf").read_text())[("general", "")]
    start, end = int(rtp["rtpstart"]), int(rtp["rtpend"])
    assert end - start + 1 >= 1000  # two ports per call leg: 500 legs at least
    assert conf[("carrier", "endpoint")]["ice_support"] == "no"
    info = json.loads((inst.dir / "instance.json").read_text())
    assert (info["sip_port"], info["sip_trunk"], info["rtp_ports"]) == (
        6001, "127.0.0.1:5060", [start, end])
    other = rendered(tmp_path, "other", sip_port=7000, sip_trunk="127.0.0.1:7070")
    assert sections((other.dir / "etc/pjsip.conf").read_text())[
        ("carrier", "identify")]["match"] == "127.0.0.1:7070"


def test_a_running_instances_rtp_range_is_not_given_to_another(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two instances whose SIP ports point at the same block get different RTP ranges
    while the first one runs."""
    first = rendered(tmp_path, "first", sip_port=7000)
    monkeypatch.setattr(sandbox_mod.Instance, "pid",
                        lambda self: 1 if self.name == "first" else None)
    second = rendered(tmp_path, "second", sip_port=7010)
    ranges = [json.loads((i.dir / "instance.json").read_text())["rtp_ports"]
              for i in (first, second)]
    assert (7000 - 7010) % sandbox_mod.RTP_BLOCKS == 0  # the same preferred block
    assert ranges[0] != ranges[1]


def test_a_trunk_address_that_would_break_pjsip_conf_is_refused(tmp_path: Path) -> None:
    """A trunk that is not address[:port] never reaches pjsip.conf."""
    with pytest.raises(SandboxError, match="not an IPv4"):
        rendered(tmp_path, sip_trunk="127.0.0.1\n[evil]")


@pytest.mark.skipif(os.geteuid() != 0, reason="file ownership as root")
def test_seat_passwords_are_generated_once_and_kept_private(tmp_path: Path) -> None:
    """A seat's SIP password is generated on first use, the same afterwards, different
    per seat, and readable by its owner only."""
    inst = rendered(tmp_path)
    first = inst.sip_secret("8001")
    assert first == inst.sip_secret("8001")
    assert first != inst.sip_secret("8002")
    assert len(first) >= 20
    path = inst.dir / "sip-secrets" / "8001"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    with pytest.raises(SandboxError):
        inst.sip_secret("../ami")


def test_the_caller_scenario_presses_keys_as_rfc4733_and_waits_for_the_line() -> None:
    """The scenario offers G.711 and telephone-event on SIPp's DTMF payload type, sends the
    caller's number (From and P-Asserted-Identity), presses each key after its pause and
    waits for the line's BYE; it is valid XML."""
    xml = caller_scenario("13955112345", presses("1 1"), name="纳税人", wait_for_hangup=30)
    root = ET.fromstring(xml)
    invite = root.findall("send")[0].text or ""
    assert "INVITE sip:12366@" in invite
    assert '"纳税人" <sip:13955112345@' in invite
    assert "P-Asserted-Identity: \"纳税人\" <sip:13955112345@" in invite
    assert "m=audio [media_port] RTP/AVP 0 8 96" in invite
    assert "a=rtpmap:96 telephone-event/8000" in invite
    plays = [e.get("play_dtmf") for e in root.iter("exec")]
    assert plays == ["1,100", "1,100"]
    assert [p.get("milliseconds") for p in root.findall("pause")] == ["1000", "1500"]
    assert root.findall("recv")[-1].get("request") == "BYE"
    assert root.findall("recv")[-1].get("timeout") == "30000"


def test_the_caller_scenario_can_hang_up_itself_and_refuses_bad_input() -> None:
    """With hang_up_after the caller sends BYE; a bad number, key or name is refused."""
    xml = caller_scenario("13955112345", [Press(0.5, "0#")], hang_up_after=2)
    assert "BYE [next_url] SIP/2.0" in xml
    assert 'request="BYE"' not in xml
    for bad, why in (({"number": "abc"}, "phone number"), ({"steps": [Press(1, "x")]}, "key"),
                     ({"name": 'a"b'}, "quotes")):
        args: dict[str, object] = {"number": "13955112345", "steps": [], **bad}
        with pytest.raises(ValueError, match=why):
            caller_scenario(**args)  # type: ignore[arg-type]


def test_the_caller_scenario_withholds_the_number_and_can_talk(tmp_path: Path) -> None:
    """A caller without caller ID sends RFC 3323's anonymous From and no
    P-Asserted-Identity; a caller with audio offers A-law alone (the capture's codec) and
    plays it once after the keys, without a pause after it (a BYE may come any time)."""
    xml = caller_scenario(None, presses("1"), audio="/tmp/tone.pcap", wait_for_hangup=30)
    root = ET.fromstring(xml)
    invite = root.findall("send")[0].text or ""
    assert 'From: "Anonymous" <sip:anonymous@anonymous.invalid>;tag=' in invite
    assert "P-Asserted-Identity" not in invite
    assert "m=audio [media_port] RTP/AVP 8 96" in invite
    actions = [(e.get("play_dtmf"), e.get("play_pcap_audio")) for e in root.iter("exec")]
    assert actions == [("1,100", None), (None, "/tmp/tone.pcap")]
    # After the key's last RTP event (a play started sooner cuts the key's end off).
    assert [p.get("milliseconds") for p in root.findall("pause")] == ["1000", "1000"]
    with pytest.raises(ValueError, match="pcap"):
        caller_scenario(None, [], audio='/tmp/a".pcap')


def test_the_tone_capture_is_g711_alaw_rtp_at_20_ms() -> None:
    """tone_pcap writes a pcap SIPp can play: Ethernet/IPv4/UDP frames, one every 20 ms,
    each an RTP packet of payload type 8 with 160 A-law samples of the tone, sequence and
    timestamp counting up; its samples are G.711 A-law as the reference encoder
    encodes them."""
    import struct

    from hotline.pbx.sipp import _alaw, tone_pcap

    # G.711 A-law of these samples, as the reference encoder (Sun g711.c) gives them.
    assert [_alaw(v) for v in (0, -1, 16, 1000, -1000, 32767, -32768)] == [
        0xD5, 0x55, 0xD4, 0xFA, 0x7A, 0xAA, 0x2A]
    data = tone_pcap(1.0)
    magic, _, _, _, _, _, link = struct.unpack("<IHHiIII", data[:24])
    assert (magic, link) == (0xA1B2C3D4, 1)
    offset, packets = 24, []
    while offset < len(data):
        sec, usec, length, _ = struct.unpack("<IIII", data[offset:offset + 16])
        frame = data[offset + 16:offset + 16 + length]
        offset += 16 + length
        assert (frame[12:14], frame[14], frame[23]) == (b"\x08\x00", 0x45, 17)
        rtp = frame[42:]
        _, pt, seq, stamp = struct.unpack("!BBHI", rtp[:8])
        packets.append((sec * 1_000_000 + usec, pt & 0x7F, seq, stamp, len(rtp) - 12))
    assert len(packets) == 50
    assert [p[0] for p in packets[:3]] == [0, 20_000, 40_000]
    assert ({p[1] for p in packets}, {p[4] for p in packets}) == ({8}, {160})
    assert ([p[2] for p in packets[:3]], packets[1][3]) == ([0, 1, 2], 160)


def test_the_roots_hosts_file_names_this_host(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A root built under another host name (or before a rename) gets this host's name in
    its /etc/hosts at start: without it every SIP call waited ~22 s on DNS."""
    (tmp_path / "etc").mkdir()
    hosts = tmp_path / "etc/hosts"
    hosts.write_text("127.0.0.1 localhost oldname\n")
    monkeypatch.setattr(sandbox_mod.socket, "gethostname", lambda: "hotline-box")
    sandbox_mod._ensure_hostname(tmp_path)
    assert "hotline-box" in hosts.read_text().split("\n")[0].split()
    sandbox_mod._ensure_hostname(tmp_path)  # already there: left alone
    assert hosts.read_text().count("hotline-box") == 1


def test_a_pjsip_channel_names_its_seat_device_and_the_carrier() -> None:
    """A seat phone's channel (PJSIP/8001-0000000a) is the seat's device PJSIP/8001; the
    carrier's calls are PJSIP/carrier (hotline.pbx.channels)."""
    from hotline.pbx.channels import channel_device

    assert channel_device("PJSIP/8001-0000000a") == "PJSIP/8001"
    assert channel_device("PJSIP/carrier-00000000") == "PJSIP/carrier"


BROWSER = ROUTING + """  "8004": {name: 座席四, group: centre, device: PJSIP/8004, webrtc: true,
           skills: {center: 5}}
"""


def test_a_browser_seat_gets_a_webrtc_endpoint_on_the_wss_transport() -> None:
    """A seat with `webrtc: true` gets an endpoint that speaks WebRTC (webrtc = yes:
    DTLS-SRTP, ICE, AVPF, rtcp-mux) on the secure WebSocket transport, G.711 only, with
    its media address on loopback; its auth and AoR are a SIP phone's. The SIP phone's
    endpoint keeps UDP and no ICE."""
    config = parse_routing_text(BROWSER)
    assert webrtc_seats(config) == {"8004": "8004"}
    assert sip_seats(config) == {"8001": "8001", "8004": "8004"}
    conf = sections(render_seats(config, lambda endpoint: f"password-of-{endpoint}"))
    browser = conf[("8004", "endpoint")]
    assert (browser["transport"], browser["webrtc"], browser["media_address"]) == (
        "transport-wss", "yes", "127.0.0.1")
    assert "ice_support" not in browser  # webrtc = yes turns it on
    assert browser["allow"].split(",") == ["ulaw", "alaw"]
    assert (browser["auth"], browser["aors"], browser["context"]) == (
        "8004", "8004", "from-seat-phone")
    assert conf[("8004", "auth")]["password"] == "password-of-8004"
    assert conf[("8004", "aor")]["max_contacts"] == "1"
    phone = conf[("8001", "endpoint")]
    assert (phone["transport"], phone["ice_support"]) == ("transport-udp", "no")
    assert "webrtc" not in phone


@pytest.mark.parametrize(("option", "message"), [
    ("device: Local/8005@seats/n, webrtc: true", "a browser phone is a PJSIP endpoint"),
    ("device: PJSIP/8005, webrtc: yes-please", "webrtc is true"),
])
def test_webrtc_needs_a_seat_endpoint_of_its_own(option: str, message: str) -> None:
    """`webrtc` is a boolean, and only for a seat whose device is PJSIP/<name>."""
    text = ROUTING + f'  "8005": {{name: 座席五, group: centre, {option}, skills: {{center: 5}}}}\n'
    with pytest.raises(Exception, match=message):
        parse_routing_text(text)


def test_the_wss_transport_is_tls_on_loopback_with_the_instances_own_certificate(
        tmp_path: Path) -> None:
    """Asterisk's HTTP server runs TLS alone (no plain HTTP: no bindaddr), on 127.0.0.1 at
    the instance's WebSocket port (AMI + 3 unless given), with a certificate for
    127.0.0.1 that the sandbox made, its key readable by its owner only; pjsip.conf has
    the WSS transport; rtp.conf offers ICE's one candidate as 127.0.0.1. A second render
    keeps the certificate."""
    inst = rendered(tmp_path)
    assert (inst.wss_port, inst.wss_url) == (6002, "wss://127.0.0.1:6002/ws")
    http = sections((inst.dir / "etc/http.conf").read_text())[("general", "")]
    assert "bindaddr" not in http
    assert (http["enabled"], http["tlsenable"], http["tlsbindaddr"]) == (
        "yes", "yes", "127.0.0.1:6002")
    assert http["tlscertfile"].endswith("/keys/webrtc.crt")
    assert http["tlsprivatekey"].endswith("/keys/webrtc.key")
    assert http["enablestatic"] == "no"
    key = inst.dir / "keys" / "webrtc.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    text = subprocess.run(["openssl", "x509", "-noout", "-text", "-in", str(inst.certificate)],
                          capture_output=True, text=True, check=True).stdout
    assert "IP Address:127.0.0.1" in text
    conf = sections((inst.dir / "etc/pjsip.conf").read_text())
    assert conf[("transport-wss", "transport")]["protocol"] == "wss"
    rtp = (inst.dir / "etc/rtp.conf").read_text()
    assert "icesupport = yes" in rtp
    assert "ice_permit = 127.0.0.1/32" in rtp
    candidates = rtp.split("\n[ice_host_candidates]\n")[1].strip().splitlines()
    addresses = sandbox_mod._host_ipv4_addresses()
    if addresses:
        assert candidates == [f"{addresses[0]} => 127.0.0.1"]
    before = inst.certificate.read_bytes()
    inst.render_config(generated={})
    assert inst.certificate.read_bytes() == before
    info = json.loads((inst.dir / "instance.json").read_text())
    assert info["wss_port"] == 6002
    other = rendered(tmp_path, "other", wss_port=7443)
    assert other.wss_url == "wss://127.0.0.1:7443/ws"


def test_the_mixed_scenario_branches_on_each_call_s_kind_from_the_injection_file() -> None:
    """One scenario for callers of several kinds (one SIPp: the trunk is one address and
    port): the number comes from the injection file's first field, the kind from its
    second picks the branch with that kind's keys; a caller that hangs up itself waits for
    the line's BYE until then (a seat may end the call first), then sends its own; one
    that does not waits for the line; a kind not given stops SIPp."""
    kinds = [CallerKind("seat", (Press(0.5, "0"),)), CallerKind("menu", (), hang_up_after=18)]
    root = ET.fromstring(mixed_scenario(kinds, wait_for_hangup=90))
    invite = root.findall("send")[0].text or ""
    assert "From: <sip:[field0]@" in invite
    assert "P-Asserted-Identity: <sip:[field0]@" in invite
    labels = [e.get("id") for e in root.iter("label")]
    assert labels == ["kind0", "kind1", "hangup1", "end"]
    jumps = [(e.get("next"), e.get("test")) for e in root.findall("nop") if e.get("test")]
    assert jumps == [("kind0", "is0"), ("kind1", "is1")]
    compares = [(e.get("assign_to"), e.get("value")) for e in root.iter("strcmp")]
    assert compares == [("cmp0", "seat"), ("cmp1", "menu")]
    assert [e.get("message") for e in root.iter("error")] == ["no caller kind [field1]"]
    assert [e.get("play_dtmf") for e in root.iter("exec")] == ["0,100"]
    waits = [(e.get("timeout"), e.get("ontimeout")) for e in root.iter("recv")
             if e.get("request") == "BYE"]
    assert waits == [("90000", None), ("18000", "hangup1")]
    assert mixed_scenario(kinds).count("BYE [next_url] SIP/2.0") == 1
    assert injection([("13955112345", "seat"), ("13955112346", "menu")]) == (
        "SEQUENTIAL\n13955112345;seat;\n13955112346;menu;\n")


def test_the_mixed_scenario_refuses_bad_kinds_and_calls() -> None:
    """Kinds without a name of their own, with a bad name, key or hang-up time, and calls
    with a bad number or kind are refused, naming the problem."""
    for kinds, why in (([], "each caller kind once"),
                       ([CallerKind("a"), CallerKind("a")], "each caller kind once"),
                       ([CallerKind("A;b")], "caller kind's name"),
                       ([CallerKind("a", (Press(1, "x"),))], "key press"),
                       ([CallerKind("a", (), hang_up_after=0)], "positive")):
        with pytest.raises(ValueError, match=why):
            mixed_scenario(kinds)
    for call in (("abc", "seat"), ("13955112345", "se;at")):
        with pytest.raises(ValueError, match="bad call"):
            injection([call])
