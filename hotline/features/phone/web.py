"""The browser phone (浏览器话机): a seat works with a headset on the browser alone.

    GET /phone/             the phone page, in Simplified Chinese: the seat picks itself,
                            types its SIP password, registers (注册), answers (接听), mutes
                            (静音), hangs up (挂断)
    GET /phone/phone.js     the page's script
    GET /phone/jssip.js     the SIP library (JsSIP, installed from the npm registry by
                            `make webphone`, bundled into build/webphone/; not in the
                            repository)
    GET /phone/api/config   where the phones register (the secure WebSocket URL, the SIP
                            domain) and the seats whose phone is the browser phone

The phone speaks SIP over a secure WebSocket straight to Asterisk (PJSIP's WSS
transport on Asterisk's own HTTPS server, loopback) and its media is WebRTC (DTLS-SRTP,
ICE): hotline serves the page and nothing of the call passes through it.

Until the workbench has logins of its own (issue 14), the page is served to this
machine's own browser only (a request from any other address is refused, whatever
address the web server listens on), and the seat types its SIP password: the password is
never in the page, in a URL or in a log (the page keeps it in memory, for the SIP
library's digest answers, and sends it nowhere else).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import structlog
from aiohttp import web

log = structlog.get_logger("hotline.phone")

PAGE = resources.files("hotline.features.phone").joinpath("phone.html")
SCRIPT = resources.files("hotline.features.phone").joinpath("phone.js")
# The phone's SIP and WebRTC part, served in front of phone.js and of the seat's page's
# phone script (hotline.features.workbench): one copy of it for both pages.
CORE = resources.files("hotline.features.phone").joinpath("phone-core.js")


def core_script() -> str:
    return CORE.read_text(encoding="utf-8")
# Every answer is the service's own: no caching of a page that a newer library or
# configuration replaces, no framing by other pages, no referrer to the WebSocket.
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "connect-src 'self' wss:; media-src 'self' blob: mediastream:; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    "Permissions-Policy": "microphone=(self), camera=()",
}


@dataclass(frozen=True)
class PhoneSeat:
    """A seat whose phone is the browser phone, and the SIP user it registers as."""

    seat: str
    name: str
    user: str


@dataclass(frozen=True)
class PhoneServer:
    """Where the browser phones register: Asterisk's secure WebSocket."""

    url: str  # wss://127.0.0.1:5041/ws

    @property
    def domain(self) -> str:
        """The SIP domain of the seats' URIs (sip:<user>@<domain>): the server's host."""
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def certificate_page(self) -> str:
        """An address on the server a seat opens once to trust its certificate."""
        parts = urlsplit(self.url)
        return f"https://{parts.netloc}/"


@dataclass
class PhoneSources:
    seats: Callable[[], Sequence[PhoneSeat]]  # from the live routing.yaml
    server: Callable[[], PhoneServer | None]  # None: no WebSocket configured
    library: Path  # the bundled SIP library (make webphone)


class PhonePage:
    def __init__(self, sources: PhoneSources) -> None:
        self.sources = sources
        # Read once: no file I/O per request (the library is read at its first request,
        # and again only while it is missing: `make webphone` may come after the start).
        self._page = PAGE.read_text(encoding="utf-8")
        self._script = core_script() + "\n" + SCRIPT.read_text(encoding="utf-8")
        self._library: bytes | None = None

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/phone", self._to_page)
        app.router.add_get("/phone/", self._page_handler)
        app.router.add_get("/phone/phone.js", self._script_handler)
        app.router.add_get("/phone/jssip.js", self._library_handler)
        app.router.add_get("/phone/api/config", self._config_handler)

    # -- handlers ------------------------------------------------------------------------

    async def _to_page(self, request: web.Request) -> web.StreamResponse:
        _this_machine_only(request)
        raise web.HTTPFound("/phone/", headers=HEADERS)

    async def _page_handler(self, request: web.Request) -> web.StreamResponse:
        _this_machine_only(request)
        _no_parameters(request)
        return web.Response(text=self._page, content_type="text/html", charset="utf-8",
                            headers=HEADERS)

    async def _script_handler(self, request: web.Request) -> web.StreamResponse:
        _this_machine_only(request)
        _no_parameters(request)
        return web.Response(text=self._script, content_type="text/javascript",
                            charset="utf-8", headers=HEADERS)

    async def _library_handler(self, request: web.Request) -> web.StreamResponse:
        _this_machine_only(request)
        _no_parameters(request)
        library = await self._read_library()
        if library is None:
            raise _error(503, "phone-library-missing", "the browser phone's SIP library is "
                         f"not built ({self.sources.library}): run `make webphone`")
        return web.Response(body=library, content_type="text/javascript", charset="utf-8",
                            headers=HEADERS)

    async def _config_handler(self, request: web.Request) -> web.StreamResponse:
        _this_machine_only(request)
        _no_parameters(request)
        return web.json_response(self.config(), dumps=_dumps, headers=HEADERS)

    # -- what they serve -----------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        server = self.sources.server()
        return {
            "server": server.url if server is not None else None,
            "domain": server.domain if server is not None else None,
            "certificate_page": server.certificate_page if server is not None else None,
            "seats": [{"seat": s.seat, "name": s.name, "user": s.user}
                      for s in self.sources.seats()],
        }

    def seat_phone(self, seat_id: str) -> dict[str, Any] | None:
        """Where seat `seat_id`'s browser phone registers, and as which SIP user (None:
        its phone is not the browser phone, or no WebSocket is configured). No password:
        the seat types it (the seat's page, like this one, never gets it)."""
        server = self.sources.server()
        found = next((s for s in self.sources.seats() if s.seat == seat_id), None)
        if server is None or found is None:
            return None
        return {"seat": found.seat, "name": found.name, "user": found.user,
                "server": server.url, "domain": server.domain,
                "certificate_page": server.certificate_page}

    async def library(self) -> bytes | None:
        """The bundled SIP library (None: not built, `make webphone`)."""
        return await self._read_library()

    async def _read_library(self) -> bytes | None:
        if self._library is None:
            import asyncio

            try:
                self._library = await asyncio.to_thread(self.sources.library.read_bytes)
            except OSError:
                log.warning("phone.library_missing", path=str(self.sources.library),
                            hint="run `make webphone`")
                return None
        return self._library


def _this_machine_only(request: web.Request) -> None:
    """Refuse a browser on another machine: until the workbench has logins (issue 14), a
    seat's password is typed into a page only this machine's own browser gets."""
    remote = request.remote
    try:
        local = remote is not None and ipaddress.ip_address(remote).is_loopback
    except ValueError:  # a Unix socket or an unparsable peer: not known to be local
        local = False
    if not local:
        log.info("phone.refused_remote", remote=remote)
        raise _error(403, "phone-local-only", "the browser phone is served to this "
                     "machine's own browser only (open http://127.0.0.1:<port>/phone/ on "
                     "the seat's machine)")


def _no_parameters(request: web.Request) -> None:
    if request.query:
        # A password typed into the address bar must not stay in a URL the page uses.
        raise _error(400, "unknown-parameter", f"{request.path} takes no query parameters "
                     "(the password is typed into the page, never put in its address)")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _error(status: int, code: str, message: str) -> web.HTTPException:
    body = _dumps({"error": code, "message": message})
    kinds: dict[int, type[web.HTTPException]] = {
        400: web.HTTPBadRequest, 403: web.HTTPForbidden, 503: web.HTTPServiceUnavailable}
    return kinds[status](text=body, content_type="application/json", headers=HEADERS)

