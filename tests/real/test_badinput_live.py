"""Bad dialplan files dropped into the live folder of a running service (a sample of the
bad-input corpus): the service stays up, its health check keeps answering within a second
while each file is read, the error is logged with the file and line, and calls still get
the last good menu."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from hotline.features.calls.testcall import TestCall, place_call, wait_for_ledger_row
from hotline.pbx.gateway import AmiGateway
from hotline.pbx.sandbox import Instance
from tests.badinput.corpus import cases
from tests.real.test_reload import TO_GOODBYE
from tests.real.test_resilience import HotlineProcess

pytestmark = pytest.mark.asterisk

# The corpus's dialplans of the probes (and their neighbours), dropped in turn.
SAMPLE = ("bell-character", "nul-byte", "not-utf8", "recursive-alias-list",
          "deep-flow-5000", "alias-depth", "billion-laughs", "options-100000",
          "one-point-one-mib", "options-30000-in-300-menus", "prompt-name-surrogate",
          "prompt-file-nul", "regex-nested-repeat")


async def _health_times(url: str, stop: asyncio.Event) -> list[float]:
    """Ask /healthz every 0.1 s until `stop`: how long each answer took (a request that
    gets no answer within 5 s counts as 5 s)."""
    host, port = url.removeprefix("http://").rstrip("/").rsplit(":", 1)
    times: list[float] = []
    while not stop.is_set():
        started = time.monotonic()
        try:
            async with asyncio.timeout(5):
                reader, writer = await asyncio.open_connection(host, int(port))
                writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                await reader.read()
                writer.close()
        except TimeoutError:
            pass
        times.append(time.monotonic() - started)
        await asyncio.sleep(0.1)
    return times


def _url(log: Path) -> str:
    for line in log.read_text().splitlines():
        if '"web.listening"' in line:
            return str(json.loads(line)["url"])
    raise AssertionError("the wallboard did not say where it listens")


async def test_bad_files_in_the_live_folder_never_stop_the_line(
        own_asterisk: Instance, gateway: AmiGateway, tmp_path: Path) -> None:
    """Each sampled bad file, dropped beside the good dialplan: refused and logged as
    `bad.yaml:LINE:`, the service alive and its /healthz answering within 1 s throughout,
    and a call after all of them still gets the good menu (1 says goodbye)."""
    plans = tmp_path / "dialplans"
    plans.mkdir()
    (plans / "line.yaml").write_text(TO_GOODBYE, encoding="utf-8")
    ledger = tmp_path / "ledger.sqlite3"
    service = HotlineProcess(own_asterisk, ledger, {
        "HOTLINE_DIALPLANS_PATHS": f"[{plans}]", "HOTLINE_SERVICE_WATCH_INTERVAL": "0.2"})
    corpus = cases()
    try:
        await service.wait_for("calls.resynced")
        url = _url(service.log)
        bad = plans / "bad.yaml"
        for number, name in enumerate(SAMPLE, 1):
            case = corpus["dialplan", name]
            stop = asyncio.Event()
            probe = asyncio.create_task(_health_times(url, stop))
            bad.write_bytes(case.data)
            async with asyncio.timeout(60):
                while service.log.read_text().count('"dialplan.reload_rejected"') < number:
                    assert service.proc.poll() is None, service.log.read_text()[-3000:]
                    await asyncio.sleep(0.1)
            await asyncio.sleep(0.3)
            stop.set()
            times = await probe
            assert max(times) < 1.0, (name, max(times))
            rejected = [json.loads(line) for line in service.log.read_text().splitlines()
                        if '"dialplan.reload_rejected"' in line][-1]
            expected = f"bad.yaml:{case.line}:" if case.line is not None else "bad.yaml:"
            assert any(expected in error for error in rejected["errors"]), (name, rejected)
            assert service.proc.poll() is None
        assert "Traceback" not in service.log.read_text()

        # The last good menu still answers: 1 says goodbye and the call ends in the IVR.
        call = TestCall("13955112345", None, ["1"], extension="12399")
        await place_call(gateway, call, timeout=60)
        row = await wait_for_ledger_row(ledger, call.linkedid)
        assert (row.digits, row.queue, row.outcome) == ("1", None, "ended_in_ivr")
    finally:
        service.stop()
