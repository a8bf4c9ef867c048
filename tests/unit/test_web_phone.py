"""The browser phone's page (hotline.features.phone.web): what it serves, to whom, and
what it never carries (the seat's password), against aiohttp's test client and the app
the service builds (wallboard and phone on one server)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request

from hotline.app.settings import load_settings
from hotline.app.wiring import phone_page_from
from hotline.common.yamlsrc import load_text
from hotline.core.routing.config import parse_routing
from hotline.features.phone.web import PhonePage, PhoneSeat, PhoneServer, PhoneSources

REPO = Path(__file__).resolve().parents[2]
ROUTING = """
queues:
  center: {name: 综合咨询}
groups:
  centre: {name: 中心, kind: centre}
seats:
  "8001": {name: 网页座席, group: centre, device: PJSIP/8001, webrtc: true, skills: {center: 5}}
  "8002": {name: 话机座席, group: centre, device: PJSIP/8002, skills: {center: 5}}
  "8003": {name: 演示座席, group: centre, device: Local/8003@seats/n, skills: {center: 5}}
"""


def page_with(library: Path, server: PhoneServer | None = None) -> PhonePage:
    return PhonePage(PhoneSources(lambda: [PhoneSeat("8001", "网页座席", "8001")],
                                  lambda: server, library))


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient[Any, Any]]:
    library = tmp_path / "jssip.min.js"
    library.write_text("var JsSIP = {};", encoding="utf-8")
    app = web.Application()
    page_with(library, PhoneServer("wss://127.0.0.1:5041/ws")).add_routes(app)
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        yield test_client


async def test_the_page_is_the_chinese_phone_with_a_password_field_and_no_form(
        client: TestClient[Any, Any]) -> None:
    """/phone/ is the phone page in Chinese (注册, 接听, 挂断, 静音) with a password field
    that belongs to no form (nothing submits it into a URL), its script and the SIP
    library served beside it; the answers are not cached and may not be framed."""
    response = await client.get("/phone/")
    assert response.status == 200
    text = await response.text()
    for label in ("注册", "接听", "挂断", "静音", "话机密码"):
        assert label in text
    assert 'type="password"' in text
    assert "<form" not in text
    assert response.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    script = await client.get("/phone/phone.js")
    assert script.status == 200
    assert "JsSIP.UA" in await script.text()
    library = await client.get("/phone/jssip.js")
    assert (library.status, await library.text()) == (200, "var JsSIP = {};")
    moved = await client.get("/phone", allow_redirects=False)
    assert (moved.status, moved.headers["Location"]) == (302, "/phone/")


async def test_the_config_names_the_websocket_and_the_browser_seats(
        client: TestClient[Any, Any]) -> None:
    """/phone/api/config gives where the phones register, the SIP domain, the page to
    open once to trust the certificate, and the browser seats; no password."""
    response = await client.get("/phone/api/config")
    assert response.status == 200
    assert await response.json() == {
        "server": "wss://127.0.0.1:5041/ws", "domain": "127.0.0.1",
        "certificate_page": "https://127.0.0.1:5041/",
        "seats": [{"seat": "8001", "name": "网页座席", "user": "8001"}]}


async def test_a_query_is_refused_so_no_password_stays_in_an_address(
        client: TestClient[Any, Any]) -> None:
    """A password put in the page's address is refused, not served."""
    response = await client.get("/phone/?password=secret")
    assert response.status == 400
    assert (await response.json())["error"] == "unknown-parameter"


async def test_a_missing_library_says_how_to_build_it(tmp_path: Path) -> None:
    """Without `make webphone` the library's address answers 503 naming the command."""
    app = web.Application()
    page_with(tmp_path / "missing.js").add_routes(app)
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        response = await test_client.get("/phone/jssip.js")
        assert response.status == 503
        body = await response.json()
        assert body["error"] == "phone-library-missing"
        assert "make webphone" in body["message"]
        config = await (await test_client.get("/phone/api/config")).json()
        assert config["server"] is None


@pytest.mark.parametrize("peer", [("192.0.2.7", 40000), ("10.1.2.3", 40000),
                                  ("::ffff:192.0.2.7", 40000, 0, 0)])
async def test_a_browser_on_another_machine_is_refused(tmp_path: Path,
                                                       peer: tuple[Any, ...]) -> None:
    """Until the workbench has logins, the phone is served to this machine's browser
    only: a request from any other address gets 403, whatever address the server
    listens on (web.host 0.0.0.0 for the wallboard's screens)."""
    page = page_with(tmp_path / "jssip.min.js", PhoneServer("wss://127.0.0.1:5041/ws"))
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        peer if name == "peername" else default)
    for path, handler in (("/phone/", page._page_handler),
                          ("/phone/api/config", page._config_handler),
                          ("/phone/jssip.js", page._library_handler)):
        request = make_mocked_request("GET", path, transport=transport)
        with pytest.raises(web.HTTPForbidden) as refused:
            await handler(request)
        assert json.loads(refused.value.text or "")["error"] == "phone-local-only"
    local = transport
    local.get_extra_info.side_effect = lambda name, default=None: (
        ("::1", 40000, 0, 0) if name == "peername" else default)
    response = await page._page_handler(make_mocked_request("GET", "/phone/", transport=local))
    assert response.status == 200


def test_the_service_serves_the_sandbox_websocket_and_the_routing_seats(
        tmp_path: Path) -> None:
    """Wired from the settings: the embedded sandbox's WebSocket (AMI port + 3) unless
    web.phone_server names one; the seats are routing.yaml's browser seats, not the SIP
    phones' or the Local ones."""
    routing = parse_routing(load_text(ROUTING, "routing.yaml"))
    settings = load_settings(REPO / "config" / "hotline.yaml", {"HOTLINE_AMI_PORT": "7000"})
    page = phone_page_from(settings, lambda: routing)
    config = page.config()
    assert config["server"] == "wss://127.0.0.1:7003/ws"
    assert config["seats"] == [{"seat": "8001", "name": "网页座席", "user": "8001"}]
    own = load_settings(REPO / "config" / "hotline.yaml", {
        "HOTLINE_AMI_SECRET": "s", "HOTLINE_AMI_HOST": "127.0.0.1",
        "HOTLINE_WEB_PHONE_SERVER": "wss://pbx.example:8089/ws"})
    assert phone_page_from(own, lambda: None).config()["server"] == "wss://pbx.example:8089/ws"
    no_server = load_settings(REPO / "config" / "hotline.yaml", {
        "HOTLINE_AMI_SECRET": "s"})
    assert phone_page_from(no_server, lambda: None).config() == {
        "server": None, "domain": None, "certificate_page": None, "seats": []}
