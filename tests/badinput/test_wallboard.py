"""Requests the wallboard's HTTP parser refuses, sent raw over a socket to a wallboard
listening on a free port: every answer is JSON naming the problem, like its other errors,
and a query key given twice is refused rather than guessed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hotline.ledger.store import Ledger
from tests.unit.test_web import _Service


@pytest.fixture
async def port(tmp_path: Path) -> AsyncIterator[int]:
    """The port of a running wallboard (its service's parts as tests/unit/test_web.py
    sets them)."""
    ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
    service = _Service(ledger)
    try:
        assert await service.wallboard.start("127.0.0.1", 0)
        assert service.wallboard.url is not None
        yield int(service.wallboard.url.rstrip("/").rsplit(":", 1)[1])
    finally:
        await service.wallboard.stop()
        await ledger.close()


async def exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `request` as it is; the status, headers and body of the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(5):
            raw = await reader.read()
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip()
               for k, _, v in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, body


BAD = {
    "a control character in the path": b"GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n",
    "a header over 8,190 bytes": (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "
                                  + b"a" * 9000 + b"\r\n\r\n"),
    "a path over 8,190 bytes": b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "a negative Content-Length": (b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                                  b"Content-Length: -1\r\n\r\n"),
    "TLS on the HTTP port": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40,
}


@pytest.mark.parametrize("name", list(BAD))
async def test_a_request_the_parser_refuses_is_answered_in_json(port: int,
                                                                name: str) -> None:
    """A request aiohttp's parser refuses gets 400 as JSON {"error": "bad-request",
    "message": one line saying why}, not aiohttp's plain text."""
    status, headers, body = await exchange(port, BAD[name])
    assert status == 400
    assert headers["content-type"].startswith("application/json")
    answer = json.loads(body)
    assert answer["error"] == "bad-request"
    assert answer["message"].startswith("the request could not be read as HTTP: ")
    assert "\n" not in answer["message"]


async def test_the_wallboard_still_answers_after_the_bad_requests(port: int) -> None:
    """After every refused request the wallboard answers a good one."""
    for request in BAD.values():
        await exchange(port, request)
    status, _, body = await exchange(
        port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 503  # the test service has no AMI link
    assert json.loads(body)["status"] == "degraded"


@pytest.mark.parametrize("query", [b"queue=iit&queue=center", b"queue=iit&queue=iit"])
async def test_a_query_key_given_twice_is_refused(port: int, query: bytes) -> None:
    """`?queue=a&queue=b` is a 400 naming the repeated key, not the first value taken."""
    status, headers, body = await exchange(
        port, b"GET /api/status?" + query + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 400
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body) == {
        "error": "repeated-parameter",
        "message": "query parameter(s) queue given more than once for /api/status: give "
                   "each once"}
