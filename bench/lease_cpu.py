"""CPU of hotline and Asterisk with 100 callers in the menu, the lease refreshed every 0.5 s
(the default: 200 Setvars a second).

Run as root: `python -m bench.lease_cpu [CALLS]`. Starts its own sandbox instance and a
hotline process, places CALLS test callers (no key pressed) and measures both
processes' CPU time (utime + stime from /proc) over 8 s once all are in the menu.
Not part of `make bench` (it needs the sandbox and takes about a minute).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

from hotline.features.calls.testcall import TestCall, place_call
from hotline.pbx.gateway import AmiGateway
from hotline.pbx.sandbox import Sandbox, default_cache_dir, find_free_port, find_free_udp_port
from tests.real.test_resilience import HotlineProcess, in_menu

REPO = Path(__file__).resolve().parents[1]
WINDOW = 8.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def series(inst, gateway: AmiGateway, folder: Path, calls: int,
                 extra: dict[str, str]) -> tuple[float, float]:
    proc = HotlineProcess(inst, folder / f"ledger-{time.time_ns()}.sqlite3", extra)
    tasks: list[asyncio.Task[None]] = []
    placed: list[TestCall] = []
    try:
        await proc.wait_for("calls.resynced", timeout=30)
        for i in range(calls):
            call = TestCall(f"1395520{i:04d}", None, [])
            ready = await in_menu(gateway, call)
            tasks.append(asyncio.create_task(place_call(gateway, call, timeout=120)))
            placed.append(call)
            await asyncio.wait_for(ready.wait(), 15)
        asterisk = inst.pid()
        assert asterisk is not None
        before = sum(c.application == "AGI" for c in await gateway.channels())
        h0, a0 = cpu_seconds(proc.proc.pid), cpu_seconds(asterisk)
        await asyncio.sleep(WINDOW)
        h1, a1 = cpu_seconds(proc.proc.pid), cpu_seconds(asterisk)
        after = sum(c.application == "AGI" for c in await gateway.channels())
        print(f"channels in AGI (hotline's menu): {before} at the start, {after} at the end",
              flush=True)
        return h1 - h0, a1 - a0
    finally:
        for call in placed:
            if call.ivr_channel:
                with contextlib.suppress(Exception):
                    await gateway.hangup(call.ivr_channel)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        proc.stop()


async def main(calls: int) -> None:
    sandbox = Sandbox(default_cache_dir(), REPO / "config" / "asterisk")
    inst = sandbox.instance(f"bench-lease-{os.getpid()}", find_free_port(), find_free_port(),
                            find_free_udp_port(), wss_port=find_free_port())
    with tempfile.TemporaryDirectory() as tmp:
        from tests.conftest import queues_conf

        inst.up(generated=queues_conf(inst, Path(tmp) / "asterisk"))
        gateway = AmiGateway("127.0.0.1", inst.ami_port, "hotline", inst.secret())
        runner = asyncio.create_task(gateway.run())
        try:
            await gateway.wait_connected(10)
            for name, extra in (("lease 2 s, refresh 0.5 s", {}),):
                hotline, asterisk = await series(inst, gateway, Path(tmp), calls, extra)
                print(f"{calls} callers in the menu, {name}: over {WINDOW:g} s hotline "
                      f"{hotline:.2f} s CPU ({hotline / WINDOW * 100:.1f}% of a core), "
                      f"Asterisk {asterisk:.2f} s ({asterisk / WINDOW * 100:.1f}%)", flush=True)
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
            inst.down()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100))
