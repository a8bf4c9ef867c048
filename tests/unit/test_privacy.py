"""Confidentiality (保密): tip-off and complaint callers are masked in every listing."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from hotline.ledger.privacy import mask_name, mask_number
from hotline.ledger.store import Ledger
from hotline.pbx.tracking import Call, CallState, EndReason, Outcome

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


def test_numbers_and_names_are_masked() -> None:
    assert mask_number("13955125678") == "139****5678"
    assert mask_number("055112345678") == "055*****5678"
    assert mask_number("12345") == "***45"
    assert mask_number(None) is None
    assert mask_name("纳税人张三") == "纳***"


async def _write_calls(path: Path) -> None:
    ledger = await Ledger.open(path)
    calls = [
        Call(lid, "c", lid, "13955125678", "纳税人张三", CallState.ENDED, T0, category=cat,
             ended_at=T0, outcome=Outcome.ANSWERED, end_reason=EndReason.HANGUP)
        for lid, cat in (("a", "tip_off"), ("b", "complaint"), ("c", "consultation"))]
    await ledger.upsert_calls(calls, T0)
    await ledger.close()


def test_ledger_list_masks_tip_off_and_complaint_callers(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    asyncio.run(_write_calls(path))
    env = {**os.environ, "HOTLINE_LEDGER_PATH": str(path)}
    res = subprocess.run([sys.executable, "-m", "hotline", "ledger", "list", "--json"],
                         capture_output=True, text=True, cwd=REPO, env=env, timeout=30)
    assert res.returncode == 0, res.stderr
    by_id = {r["linkedid"]: r for r in json.loads(res.stdout)}
    for lid in ("a", "b"):
        assert (by_id[lid]["caller_number"], by_id[lid]["caller_name"]) == ("139****5678",
                                                                          "纳***")
    assert by_id["c"]["caller_number"] == "13955125678"
    text = subprocess.run([sys.executable, "-m", "hotline", "ledger", "list"],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=30).stdout
    assert "13955125678" in text  # the consultation
    assert text.count("139****5678") == 2


def test_an_event_in_an_error_log_never_shows_a_caller_or_the_secret() -> None:
    from hotline.pbx.gateway import _safe_fields

    safe = _safe_fields({"Event": "Newchannel", "CallerIDNum": "13955125678",
                         "CallerIDName": "举报人", "ConnectedLineNum": "055112345678",
                         "Secret": "s3cr3t"})
    assert safe == {"Event": "Newchannel", "CallerIDNum": "139****5678",
                    "CallerIDName": "举**", "ConnectedLineNum": "055*****5678",
                    "Secret": "***"}
