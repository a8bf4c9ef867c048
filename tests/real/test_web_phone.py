"""A seat on the browser phone: hotline's /phone/ page in Debian's chromium (headless,
fake microphone, driven by Playwright for Python; never `playwright install`), registered
as seat 8001 (`device: PJSIP/8001`, `webrtc: true`) over Asterisk's secure WebSocket,
answering a call that SIPp places over the carrier's trunk through the 12366 menu
(keys 1 1: income tax), with WebRTC media (DTLS-SRTP, ICE on loopback).

One Asterisk, one hotline service and one browser serve the module; its tests run in
order (the page registers, answers a call, then closes). The browser trusts exactly the
instance's own certificate (its key's SPKI hash), not every certificate. Audio is
counted as RTP packets on both legs by Asterisk (`pjsip show channelstats`), and by the
browser itself (WebRTC's inbound-rtp statistics).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from hotline.app.service import Service
from hotline.app.settings import load_settings
from hotline.app.wiring import asterisk_files
from hotline.pbx.sandbox import Instance, Sandbox, find_free_port, find_free_udp_port
from hotline.pbx.sipp import caller_scenario, presses, tone_pcap
from tests.conftest import REPO, queue_members, service_env
from tests.real.test_sip import a_number, row_of_caller, run_sipp, seconds
from tests.real.test_sip_phone import LegStats, channel_stats, until_wallboard

pytestmark = pytest.mark.asterisk

PHONE = "8001"
PHONE_SEAT = "网页座席8001"
DEVICE = f"PJSIP/{PHONE}"
CHROMIUM = "/usr/bin/chromium"
LIBRARY = REPO / "build" / "webphone" / "jssip.min.js"
CALLER_AUDIO_SECONDS = 40
# The page's script errors (uncaught exceptions), by page: a test fails on any.
PAGE_ERRORS: dict[int, list[str]] = {}


def _required(what: str, how: str) -> None:
    if os.environ.get("HOTLINE_REQUIRE_ASTERISK") == "1":
        pytest.fail(f"{what} ({how})")
    pytest.skip(f"{what} ({how})")


@pytest.fixture(scope="module")
def chromium() -> str:
    if not os.access(CHROMIUM, os.X_OK):
        _required("chromium is not installed", "Debian package chromium; .ci/run and make "
                  "system-deps install it")
    if not LIBRARY.is_file():
        _required("the browser phone's SIP library is not built", "make webphone")
    return CHROMIUM


@dataclass
class Line:
    inst: Instance
    service: Service
    folder: Path


@pytest.fixture(scope="module")
def web_instance(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory,
                 ) -> Iterator[tuple[Instance, dict[str, str], Path]]:
    """An Asterisk of this module's own whose routing has seat 8001 on the browser phone,
    the income-tax expert; seat 8002 (a Local demo seat that answers) is the other."""
    inst = sandbox.instance(f"test-webphone-{os.getpid()}", find_free_port(), find_free_port(),
                            find_free_udp_port(), f"127.0.0.1:{find_free_udp_port()}",
                            wss_port=find_free_port())
    folder = tmp_path_factory.mktemp("webphone")
    env = service_env(inst, folder / "ledger.sqlite3")
    routing_path = Path(env["HOTLINE_ROUTING_PATH"])
    routing = yaml.safe_load(routing_path.read_text(encoding="utf-8"))
    seat = routing["seats"][PHONE]
    seat.update(name=PHONE_SEAT, device=DEVICE, webrtc=True)
    seat["skills"]["iit"] = 9  # rings before 8002 (7)
    routing_path.write_text(yaml.safe_dump(routing, allow_unicode=True), encoding="utf-8")
    inst.up(generated=asterisk_files(load_settings(REPO / "config" / "hotline.yaml", env)))
    yield inst, env, folder
    inst.down()
    shutil.rmtree(inst.dir, ignore_errors=True)


@pytest.fixture(scope="module")
async def line(web_instance: tuple[Instance, dict[str, str], Path]) -> AsyncIterator[Line]:
    """hotline on that Asterisk, seats 8001 and 8002 logged in, the wallboard (and the
    phone page) on a free port of 127.0.0.1."""
    inst, env, folder = web_instance
    service = Service(load_settings(REPO / "config" / "hotline.yaml", env),
                      login_seats=(PHONE, "8002"))
    task = asyncio.create_task(service.run())
    async with asyncio.timeout(15):
        await service.fully_booted.wait()
        await service.gateway.wait_connected()
        while not {DEVICE, "Local/8002@seats/n"} <= set(queue_members(inst, "iit")):  # noqa: ASYNC110
            await asyncio.sleep(0.2)
    yield Line(inst, service, folder)
    service.stop()
    async with asyncio.timeout(10):
        await task


def spki_hash(certificate: Path) -> str:
    """base64(SHA-256(the certificate's SubjectPublicKeyInfo)), as chromium's
    --ignore-certificate-errors-spki-list takes it: trust this one key, nothing else."""
    key = subprocess.run(["openssl", "x509", "-pubkey", "-noout", "-in", str(certificate)],
                         capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=key,
                         capture_output=True, check=True).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


@pytest.fixture(scope="module")
async def browser(line: Line, chromium: str) -> AsyncIterator[Any]:
    """Debian's chromium, headless, with a fake microphone (a beeping tone) that needs no
    permission prompt, trusting the instance's certificate."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        found = await playwright.chromium.launch(executable_path=chromium, headless=True, args=[
            "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            "--autoplay-policy=no-user-gesture-required",
            # WebRTC on this machine: chromium offers no loopback candidates unless told.
            "--allow-loopback-in-peer-connection",
            f"--ignore-certificate-errors-spki-list={spki_hash(line.inst.certificate)}",
        ])
        yield found
        await found.close()


@pytest.fixture(scope="module")
async def page(line: Line, browser: Any) -> AsyncIterator[Any]:
    context = await browser.new_context(locale="zh-CN")
    await context.add_init_script(WATCH_CONNECTIONS)
    found = await context.new_page()
    found.set_default_timeout(20_000)
    errors: list[str] = []
    found.on("pageerror", lambda exc: errors.append(str(exc)))
    assert line.service.web is not None
    assert line.service.web.url is not None
    await found.goto(line.service.web.url + "phone/")
    PAGE_ERRORS[id(found)] = errors
    yield found
    await context.close()


# The test's window on the page's WebRTC: every RTCPeerConnection the page makes is kept
# for browser_rtp() (the page itself keeps its call private).
WATCH_CONNECTIONS = """
window.__connections = [];
window.RTCPeerConnection = class extends window.RTCPeerConnection {
  constructor(...args) { super(...args); window.__connections.push(this); }
};
"""


async def browser_rtp(page: Any) -> dict[str, Any]:
    """The browser's own statistics of its last call: audio packets sent and received,
    the codec, and the addresses of the ICE pair it uses."""
    return dict(await page.evaluate("""async () => {
        const pc = window.__connections[window.__connections.length - 1];
        const found = {sent: 0, received: 0, codec: "", local: "", remote: ""};
        const stats = await pc.getStats();
        const byId = new Map();
        stats.forEach(s => byId.set(s.id, s));
        stats.forEach(s => {
          if (s.type === "outbound-rtp" && s.kind === "audio") found.sent = s.packetsSent;
          if (s.type === "inbound-rtp" && s.kind === "audio") {
            found.received = s.packetsReceived;
            const codec = byId.get(s.codecId);
            if (codec) found.codec = codec.mimeType;
          }
          if (s.type === "transport" && s.selectedCandidatePairId) {
            const pair = byId.get(s.selectedCandidatePairId);
            const local = byId.get(pair.localCandidateId);
            const remote = byId.get(pair.remoteCandidateId);
            found.local = `${local.address}:${local.port}`;
            found.remote = `${remote.address}:${remote.port}`;
          }
        });
        return found;
    }"""))


async def state(page: Any) -> str:
    return str(await page.evaluate("document.body.dataset.state"))


async def until_state(page: Any, wanted: str, timeout: float = 20.0) -> None:
    await page.wait_for_selector(f'body[data-state="{wanted}"]', state="attached",
                                 timeout=timeout * 1000)


async def marks(page: Any) -> dict[str, float]:
    """The page's milestones (performance marks, ms since the page's start)."""
    entries = await page.evaluate(
        "performance.getEntriesByType('mark').map(m => [m.name, m.startTime])")
    return {name: float(at) for name, at in entries}


def member_status(inst: Instance) -> str | None:
    """app_queue's view of the browser seat in income tax: 1 not in use, 5 unavailable."""
    return queue_members(inst, "iit").get(DEVICE, {}).get("Status")


async def until_status(inst: Instance, status: str, timeout: float) -> float:
    start = time.monotonic()
    while member_status(inst) != status:
        assert time.monotonic() - start < timeout, (
            f"the browser seat is {member_status(inst)}, not {status}, after {timeout} s")
        await asyncio.sleep(0.1)
    return time.monotonic() - start


async def test_the_page_registers_the_seat_with_the_typed_password(
        line: Line, page: Any) -> None:
    """The page lists the browser seat, and with the password the sandbox keeps (typed,
    as the seat would) it registers over the secure WebSocket: Asterisk has the contact
    on the WSS transport and the seat is available to its queues. The password is in no
    URL, not in the page (its field is cleared) and not in the service's log."""
    inst = line.inst
    await until_state(page, "idle", timeout=10)  # the page loads its config first
    options = await page.eval_on_selector_all("#seat option", "os => os.map(o => o.value)")
    assert options == [PHONE]
    secret = inst.sip_secret(PHONE)
    await page.fill("#password", secret)
    started = time.monotonic()
    await page.click("#register")
    await until_state(page, "registered")
    registered_after = time.monotonic() - started
    found = await marks(page)
    in_page = found["phone:registered"] - found["phone:register"]
    await until_status(inst, "1", timeout=5)
    aor = inst.cli(f"pjsip show aor {PHONE}")
    assert "transport=ws" in aor, aor  # the contact came over the WebSocket
    assert await page.input_value("#password") == ""
    assert secret not in await page.content()
    assert secret not in page.url
    assert not PAGE_ERRORS[id(page)]
    print(f"\nbrowser phone: registered {in_page:.0f} ms after 注册 (in the page; "
          f"{registered_after * 1000:.0f} ms seen from the test)")


async def test_the_browser_answers_a_trunk_call_and_its_audio_reaches_the_caller(
        line: Line, page: Any, sipp: str, tmp_path: Path) -> None:
    """A taxpayer calling over the trunk walks the 12366 menu (RFC 4733 keys 1 1) to
    income tax; the browser seat's page rings (来电); the seat clicks 接听 and the call is
    up with DTLS-SRTP media: the caller's leg receives the browser's audio, the browser
    receives the caller's; the seat clicks 挂断, the caller's leg ends, and the ledger row
    says answered, income tax, the browser's seat, and the talk time the page was up."""
    inst = line.inst
    assert await state(page) == "registered"
    audio = tmp_path / "caller-tone.pcap"
    audio.write_bytes(tone_pcap(CALLER_AUDIO_SECONDS))
    number = a_number()
    scenario = caller_scenario(number, presses("1 1", first=0.5, gap=1.0), name="纳税人",
                               wait_for_hangup=45, audio=str(audio))
    sipp_run = asyncio.create_task(run_sipp(sipp, inst, scenario, tmp_path / "sipp"))
    await until_state(page, "ringing", timeout=30)
    rang_at = time.monotonic()
    await page.click("#answer")
    clicked_at = time.monotonic()
    await until_state(page, "talking", timeout=10)
    # Answer to media: the first RTP packets from the browser on the caller's leg.
    media_after = None
    while time.monotonic() - clicked_at < 10:
        stats = channel_stats(inst)
        if "carrier" in stats and stats["carrier"].sent > 0 and PHONE in stats and \
                stats[PHONE].received > 0:
            media_after = time.monotonic() - clicked_at
            break
        await asyncio.sleep(0.05)
    if media_after is None:
        ice = await page.evaluate("""() => { const pc = window.__connections.at(-1);
            return [pc.iceConnectionState, pc.connectionState]; }""")
        pytest.fail(f"no RTP from the browser in 10 s (ICE, connection: {ice}): "
                    f"{channel_stats(inst)}")
    await asyncio.sleep(0.5)
    first = channel_stats(inst)
    await asyncio.sleep(2.0)
    second = channel_stats(inst)
    rtc = await browser_rtp(page)
    hung_up_at = time.monotonic()
    await page.click("#hangup")
    held = hung_up_at - clicked_at
    await until_state(page, "registered", timeout=10)
    run = await sipp_run
    assert run.code == 0, f"SIPp failed ({run.code}):\n{run.errors}"
    carrier = LegStats(second["carrier"].received - first["carrier"].received,
                       second["carrier"].sent - first["carrier"].sent)
    seat = LegStats(second[PHONE].received - first[PHONE].received,
                    second[PHONE].sent - first[PHONE].sent)
    # 2 s of 20 ms packets: 100 each way on each leg (slack for the machine's load).
    assert seat.received >= 80, f"the browser's audio did not reach Asterisk: {seat}"
    assert carrier.sent >= 80, f"the browser's audio did not go on to the caller: {carrier}"
    assert carrier.received >= 80, f"the caller's audio did not reach Asterisk: {carrier}"
    assert seat.sent >= 80, f"the caller's audio did not go on to the browser: {seat}"
    found = await marks(page)
    answer_to_connected = found["phone:media"] - found["phone:answer"]
    answer_to_confirmed = found["phone:confirmed"] - found["phone:answer"]

    row = await row_of_caller(line.service, number)
    assert (row.caller_number, row.caller_name) == (number, "纳税人")
    assert (row.digits, row.queue, row.seat, row.outcome) == ("11", "iit", PHONE_SEAT,
                                                              "answered")
    assert row.talk_seconds is not None
    assert abs(row.talk_seconds - held) <= 1.0, (row.talk_seconds, held)
    # The browser's own count: it sent and received audio the whole call.
    assert rtc["sent"] >= 100, rtc
    assert rtc["received"] >= 100, rtc
    # Media on loopback: Asterisk's one ICE candidate is 127.0.0.1 (rtp.conf).
    assert rtc["remote"].startswith("127.0.0.1:"), rtc
    assert not PAGE_ERRORS[id(page)]
    start = datetime.fromisoformat(row.started_at)
    print(f"\nbrowser phone: queued at +{seconds(start, row.queued_at):.2f} s; rang, "
          f"接听 clicked {(clicked_at - rang_at) * 1000:.0f} ms later; answer to ACK "
          f"{answer_to_confirmed:.0f} ms, to ICE+DTLS connected {answer_to_connected:.0f} "
          f"ms (in the page); answer to the browser's first RTP on the caller's leg "
          f"{media_after * 1000:.0f} ms (polled every 50 ms); RTP in 2 s of talk: caller "
          f"leg in {carrier.received} / out {carrier.sent}, browser leg in "
          f"{seat.received} / out {seat.sent}; the browser sent {rtc['sent']}, received "
          f"{rtc['received']} ({rtc['codec']}, {rtc['local']} <-> {rtc['remote']}); talk "
          f"{row.talk_seconds:.2f} s (clicked to hung up {held:.2f} s)")


async def test_a_closed_page_takes_the_seat_out_of_service(line: Line, page: Any) -> None:
    """A seat that closes its phone page (the WebSocket goes with it) is unavailable to
    its queues at once and shown 话机不在线 on the wallboard, though still logged in."""
    inst = line.inst
    assert member_status(inst) == "1"
    started = time.monotonic()
    await page.close()
    out_after = await until_status(inst, "5", timeout=10)
    row = await until_wallboard(line.service, "话机不在线")
    assert (row["logged_in"], row["phone_offline"]) == (True, True)
    print(f"\nclosed page: the seat unavailable after {out_after:.2f} s, shown offline after "
          f"{time.monotonic() - started:.2f} s")
