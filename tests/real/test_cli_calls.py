"""`hotline call` and `hotline ledger list`, as a person runs them, against the service
(bad arguments are tested in process: tests/unit/test_cli.py)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from hotline.app.service import Service
from hotline.app.wiring import ledger_path
from hotline.pbx.sandbox import Instance

pytestmark = pytest.mark.asterisk
REPO = Path(__file__).resolve().parents[2]


async def hotline(service: Service, asterisk: Instance, *args: str) -> tuple[int, str, str]:
    """`hotline ARGS` as its own process (a real call through the command, as staff place
    one), on the test service's Asterisk and ledger."""
    env = {**os.environ, "HOTLINE_AMI_PORT": str(asterisk.ami_port),
           "HOTLINE_SANDBOX_INSTANCE": asterisk.name,
           "HOTLINE_LEDGER_PATH": str(ledger_path(service.settings))}
    # A subprocess the event loop waits on: the in-process service keeps running.
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hotline", *args, env=env, cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_hotline_call_prints_the_outcome_and_its_ledger_row(
        hotline_service: Service, asterisk: Instance) -> None:
    """A real call placed by `hotline call` presses its keys, and the command prints the
    outcome and the ledger row the service wrote; `hotline ledger list` then shows it."""
    code, out, err = await hotline(hotline_service, asterisk, "call", "13955112345",
                                   "--name", "纳税人王五", "--keys", "1", "--to", "12399",
                                   "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["pressed"] == "1"
    row = result["ledger"]
    assert row["linkedid"] == result["linkedid"]
    assert (row["caller_number"], row["caller_name"]) == ("13955112345", "纳税人王五")
    assert (row["digits"], row["queue"], row["outcome"]) == ("1", "center", "answered")

    code, out, err = await hotline(hotline_service, asterisk, "call", "13955112345",
                                   "--keys", "0", "--to", "12399")
    assert code == 0, err
    assert ": ended_in_ivr (语音结束), keys pressed: 0" in out.splitlines()[0]

    code, out, err = await hotline(hotline_service, asterisk, "ledger", "list", "--limit",
                                   "2", "--json")
    assert code == 0, err
    latest = json.loads(out)
    assert [r["outcome"] for r in latest] == ["ended_in_ivr", "answered"]
    assert latest[1]["caller_name"] == "纳税人王五"

    code, out, err = await hotline(hotline_service, asterisk, "ledger", "list", "--limit", "2")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["开始时间", "来电号码", "来电姓名", "按键", "队列", "座席",
                                "等待秒", "通话秒", "结果"]
    assert "语音结束" in lines[1]
    assert "纳税人王五" in lines[2]
    assert "已接通" in lines[2]


async def test_hotline_call_masks_a_complainant(hotline_service: Service,
                                                asterisk: Instance) -> None:
    """A real complaint call (keys 2 1 on the test line) placed by `hotline call` prints
    its ledger row with the caller's number and name masked, in text and in JSON."""
    for output in ([], ["--json"]):
        code, out, err = await hotline(hotline_service, asterisk, "call", "13955112346",
                                       "--name", "纳税人赵六", "--keys", "2 1", "--to",
                                       "12399", *output)
        assert code == 0, err
        assert "13955112346" not in out
        assert "纳税人赵六" not in out
        assert "139****2346" in out
        if output:
            row = json.loads(out)["ledger"]
            assert (row["category"], row["caller_name"]) == ("complaint", "纳***")
