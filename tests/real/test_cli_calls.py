"""`hotline call` and `hotline ledger list`, as a person runs them, against the service."""

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


@pytest.mark.parametrize(("args", "message"), [
    (["call", "abc"], "NUMBER 'abc' is not a phone number"),
    (["call", "13955112345", "--to", "12a"], "'12a' is not a number to dial"),
    (["call", "13955112345", "--keys", "1x"], "--keys: 'x' is not a key"),
    (["ledger", "list", "--limit", "0"], "0 must be at least 1"),
    (["call"], "the following arguments are required: number"),
])
async def test_bad_arguments_get_a_clear_error(hotline_service: Service, asterisk: Instance,
                                               args: list[str], message: str) -> None:
    code, _out, err = await hotline(hotline_service, asterisk, *args)
    assert code in (1, 2)
    assert message in err
    assert "Traceback" not in err
