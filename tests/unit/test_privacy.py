"""Confidentiality (保密): tip-off and complaint callers are masked in every listing."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

from hotline.common.phone import is_phone_number
from hotline.common.privacy import mask_name, mask_number, mask_row
from hotline.core.calls.tracking import Call, CallState, EndReason, Outcome
from hotline.ledger.store import Ledger
from tests.cli import Result, hotline

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


def test_numbers_and_names_are_masked() -> None:
    """A number keeps its first 3 and last 4 digits (short ones the last 2) and a name its
    first character."""
    assert mask_number("13955125678") == "139****5678"
    assert mask_number("055112345678") == "055*****5678"
    assert mask_number("12345") == "***45"
    assert mask_number(None) is None
    assert mask_name("纳税人张三") == "纳***"


def test_a_row_is_masked_by_its_category_or_a_work_orders_kind() -> None:
    """mask_row masks a reporter's row (call, voicemail or work order) and no other."""
    call = {"category": "tip_off", "caller_number": "13955125678", "caller_name": "纳税人张三"}
    assert mask_row(call) == {**call, "caller_number": "139****5678", "caller_name": "纳***",
                              "masked": True}
    order = {"kind": "complaint", "category": None, "callback_number": "13955125678",
             "caller_name": "张三"}
    assert mask_row(order, number="callback_number")["callback_number"] == "139****5678"
    plain = {"category": "consultation", "caller_number": "13955125678"}
    assert mask_row(plain) == plain


def test_one_phone_number_pattern_with_a_minimum_per_use() -> None:
    """A phone number is an optional + and up to 20 digits, at least as many as asked."""
    assert is_phone_number("12366")
    assert is_phone_number("+8613955125678")
    assert is_phone_number("110")
    assert not is_phone_number("110", min_digits=5)
    assert is_phone_number("0", min_digits=1)
    assert not is_phone_number("1" * 21)
    assert not is_phone_number("139 5512")
    assert not is_phone_number("12366\n")
    assert not is_phone_number("１２３６６")  # full-width digits are normalised first


async def _write_calls(path: Path) -> None:
    ledger = await Ledger.open(path)
    calls = [
        Call(lid, "c", lid, "13955125678", "纳税人张三", CallState.ENDED, T0, category=cat,
             ended_at=T0, outcome=Outcome.ANSWERED, end_reason=EndReason.HANGUP)
        for lid, cat in (("a", "tip_off"), ("b", "complaint"), ("c", "consultation"))]
    await ledger.upsert_calls(calls, T0)
    await ledger.close()


def test_ledger_list_masks_tip_off_and_complaint_callers(tmp_path: Path) -> None:
    """`hotline ledger list` masks tip-off and complaint callers (JSON and table) and shows
    others in full."""
    path = tmp_path / "ledger.sqlite3"
    asyncio.run(_write_calls(path))
    res = _cli(path, "ledger", "list", "--json")
    assert res.returncode == 0, res.stderr
    by_id = {r["linkedid"]: r for r in json.loads(res.stdout)}
    for lid in ("a", "b"):
        assert (by_id[lid]["caller_number"], by_id[lid]["caller_name"]) == ("139****5678",
                                                                          "纳***")
    assert by_id["c"]["caller_number"] == "13955125678"
    text = _cli(path, "ledger", "list").stdout
    assert "13955125678" in text  # the consultation
    assert text.count("139****5678") == 2


def test_an_event_in_an_error_log_never_shows_a_caller_or_the_secret() -> None:
    """An AMI event logged with an error has callers' numbers and names masked and the
    secret hidden."""
    from hotline.pbx.gateway import _safe_fields

    safe = _safe_fields({"Event": "Newchannel", "CallerIDNum": "13955125678",
                         "CallerIDName": "举报人", "ConnectedLineNum": "055112345678",
                         "Secret": "s3cr3t"})
    assert safe == {"Event": "Newchannel", "CallerIDNum": "139****5678",
                    "CallerIDName": "举**", "ConnectedLineNum": "055*****5678",
                    "Secret": "***"}


def _cli(ledger: Path, *args: str, user: str = "clerk", unmask: str = "[]") -> Result:
    """`hotline ARGS` on this ledger as `user`, with these ledger.unmask_users."""
    return hotline(*args, user=user, env={"HOTLINE_LEDGER_PATH": str(ledger),
                                          "HOTLINE_LEDGER_UNMASK_USERS": unmask})


def test_exports_are_masked_and_audited(tmp_path: Path) -> None:
    """`hotline ledger export` writes CSV and XLSX with reporters masked, and refuses to
    overwrite a file."""
    from openpyxl import load_workbook

    path = tmp_path / "ledger.sqlite3"
    asyncio.run(_write_calls(path))
    csv_out, xlsx_out = tmp_path / "calls.csv", tmp_path / "calls.xlsx"
    for target in (csv_out, xlsx_out):
        res = _cli(path, "ledger", "export", "--from", "2026-11-27", "--to", "2026-11-27",
                   "--output", str(target))
        assert res.returncode == 0, res.stderr
        assert "3 calls" in res.stdout
    text = csv_out.read_text(encoding="utf-8-sig")
    assert text.splitlines()[0].startswith("来电编号,来电号码,来电姓名,来电地区")
    assert text.count("139****5678") == 2
    assert text.count("13955125678") == 1  # the consultation is not confidential
    sheet = load_workbook(xlsx_out).active
    assert sheet is not None
    numbers = [row[1] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert sorted(str(n) for n in numbers) == ["139****5678", "139****5678", "13955125678"]
    again = _cli(path, "ledger", "export", "--from", "2026-11-27", "--to", "2026-11-27",
                 "--output", str(csv_out))
    assert again.returncode == 1
    assert "exists already" in again.stderr


def test_show_unmasks_only_for_allowed_staff_and_audits(tmp_path: Path) -> None:
    """`hotline ledger show --unmask` unmasks only for ledger.unmask_users; views, refusals
    and unmasks are audited in order."""
    import sqlite3

    path = tmp_path / "ledger.sqlite3"
    asyncio.run(_write_calls(path))
    masked = json.loads(_cli(path, "ledger", "show", "a", "--json").stdout)
    assert masked["caller_number"] == "139****5678"
    refused = _cli(path, "ledger", "show", "a", "--unmask")
    assert refused.returncode == 1
    assert "[unmask-not-allowed]" in refused.stderr
    shown = _cli(path, "ledger", "show", "a", "--unmask", "--json", user="chief",
                 unmask="[chief]")
    assert json.loads(shown.stdout)["caller_number"] == "13955125678"
    _cli(path, "ledger", "show", "a", "--unmask", "--reason", "核实举报人", "--json",
         user="chief", unmask="[chief]")
    con = sqlite3.connect(path)
    audit = con.execute("SELECT actor, action, target, detail FROM audit "
                        "ORDER BY id").fetchall()
    con.close()
    assert audit == [("clerk", "call.view", "call:a", None),
                     ("clerk", "call.unmask_refused", "call:a", None),
                     ("chief", "call.unmask", "call:a", None),
                     ("chief", "call.unmask", "call:a", '{"reason": "核实举报人"}')]
