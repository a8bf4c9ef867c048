"""Call history, interval figures, the quarterly report and the ledger's export over
aiohttp's test client (the accounts' bench: a real ledger file, the sandbox's
routing.yaml), on a generated ledger whose answers are known: paging is stable and
complete, each filter selects what it says, rows carry Chinese names, reporters are
masked and never found by their number, a seat sees only its own seat's calls and a city
bureau only its own, an auditor unmasks one call with a reason (audited), the report
downloads as a PDF with its Chinese text, the export as XLSX with date and number cells;
bad parameters get api-bad-query."""

from __future__ import annotations

import io
import json
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hotline.core.calls.tracking import Call, CallState, EndReason, Outcome
from hotline.ledger.entries import EntryBook
from tests.unit import test_accounts_web
from tests.unit.test_accounts_web import Bench
from tests.unit.test_report import pdf_text

bench = test_accounts_web.bench  # the fixture

DAY = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)  # 09:00 Beijing
REPORTER = "13955125678"
CALLER = "13800001111"
SEATS = {"8001": ("演示座席8001", "centre"), "8002": ("演示座席8002", "centre"),
         "8101": ("合肥远程座席8101", "hefei")}


def a_call(i: int, **kw: Any) -> Call:
    """Call i starts i minutes after 09:00 Beijing on 2026-11-25, 30 s in the menu."""
    base = Call(f"1764000000.{i:03d}", "c", f"u{i}", "13900000000", None, CallState.ENDED,
                DAY + timedelta(minutes=i), ended_at=DAY + timedelta(minutes=i, seconds=90),
                end_reason=EndReason.HANGUP, outcome=Outcome.ENDED_IN_IVR,
                region="安徽省合肥市")
    return replace(base, **kw)


def answered(i: int, seat: str, queue: str = "iit", wait: float = 10.0, **kw: Any) -> Call:
    name, group = SEATS[seat]
    queued = DAY + timedelta(minutes=i, seconds=20)
    fields: dict[str, Any] = dict(
        queue=queue, queued_at=queued, answered_at=queued + timedelta(seconds=wait),
        wait_seconds=wait, talk_seconds=60.0, seat=name, seat_group=group,
        outcome=Outcome.ANSWERED, category="consultation", topic="individual_income_tax")
    return a_call(i, **{**fields, **kw})


async def seed(bench: Bench) -> None:
    """120 calls: 0-59 answered by 8001 in iit, 60-89 by 8002 in invoice, 90-99 by 8101
    (Hefei) in property, 100-109 abandoned in iit after 30 s, 110 a tip-off from
    REPORTER answered by 8001, 111 a consultation from REPORTER that the seat corrected
    to a complaint, 112 a consultation from REPORTER, 113-119 in the menu. Call 120 is on
    the next day."""
    calls = [answered(i, "8001") for i in range(60)]
    calls += [answered(i, "8002", "invoice", topic="invoice") for i in range(60, 90)]
    calls += [answered(i, "8101", "property", topic="property_and_land")
              for i in range(90, 100)]
    calls += [a_call(i, queue="iit", queued_at=DAY + timedelta(minutes=i, seconds=20),
                     wait_seconds=30.0, outcome=Outcome.ABANDONED, category="consultation")
              for i in range(100, 110)]
    calls += [replace(answered(110, "8001", "tipoff", topic=None), category="tip_off",
                      caller_number=REPORTER, caller_name="举报人王某"),
              replace(answered(111, "8001"), caller_number=REPORTER),
              replace(answered(112, "8001"), caller_number=REPORTER)]
    calls += [a_call(i) for i in range(113, 120)]
    calls.append(a_call(120, started_at=DAY + timedelta(days=1)))
    await bench.ledger.upsert_calls(calls, DAY)
    entries = EntryBook(bench.ledger)
    await entries.save("1764000000.111", "8001", {
        "category": "complaint", "question": "投诉办税厅", "answer": "",
        "resolution": "work_order",
        "difficulty": "ordinary", "department": "纳税服务科", "callback_number": REPORTER},
        actor="p-seat", at=DAY)
    await entries.save("1764000000.001", "8001", {
        "category": "consultation", "topic": "individual_income_tax",
        "question": "个税专项附加扣除怎么填", "answer": "在个税APP填报",
        "resolution": "on_the_spot"}, actor="p-seat", at=DAY)


PEOPLE = iter(range(1000))


async def as_role(bench: Bench, role: str, **fields: str) -> str:
    """A new person with `role` (and these account fields), logged in: its cookie."""
    name = f"r-{role}-{next(PEOPLE)}"
    await bench.user(name, {role}, **fields)
    cookie, _ = await bench.session(name)
    return cookie


async def get(bench: Bench, path: str, cookie: str) -> tuple[int, Any]:
    return await bench.call("GET", path, cookie)


def audit(bench: Bench) -> list[tuple[str, str, str, str | None]]:
    con = sqlite3.connect(bench.path)
    try:
        return con.execute("SELECT actor, action, target, detail FROM audit ORDER BY id"
                           ).fetchall()
    finally:
        con.close()


async def all_pages(bench: Bench, cookie: str, query: str, limit: int) -> list[list[Any]]:
    pages: list[list[Any]] = []
    cursor = None
    while True:
        path = f"/calls?{query}&limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        status, body = await get(bench, path, cookie)
        assert status == 200, body
        pages.append(body["calls"])
        cursor = body["next"]
        if cursor is None:
            return pages


async def test_paging_is_stable_and_complete(bench: Bench) -> None:
    """A leader pages through the day's 120 calls 50 at a time: 3 pages (50, 50, 20),
    newest first, each call once; `total` is 120; calls written between two pages (newer
    than any page read) neither repeat nor shift a page. The next day's call is not in
    the day."""
    await seed(bench)
    cookie = await as_role(bench, "leader")
    status, first = await get(bench, "/calls?from=2026-11-25&to=2026-11-25&limit=50", cookie)
    assert status == 200, first
    assert first["total"] == 120
    await bench.ledger.upsert_calls([a_call(121, started_at=DAY + timedelta(hours=5))], DAY)
    pages = [first["calls"]]
    cursor = first["next"]
    while cursor:
        status, body = await get(bench, f"/calls?from=2026-11-25&to=2026-11-25&limit=50&"
                                 f"cursor={cursor}", cookie)
        pages.append(body["calls"])
        cursor = body["next"]
    assert [len(p) for p in pages] == [50, 50, 20]
    ids = [c["linkedid"] for p in pages for c in p]
    assert len(set(ids)) == 120
    assert ids == sorted(ids, reverse=True)  # the same order as started_at here
    assert "1764000000.120" not in ids


async def test_each_filter_and_the_chinese_names(bench: Bench) -> None:
    """seat, queue, category (the entry's corrected one counts), outcome and number each
    select exactly their calls; a queue or category may be given by its Chinese name; each
    row has the Chinese names of its codes beside them (routing.yaml's for queue, seat and
    group)."""
    await seed(bench)
    cookie = await as_role(bench, "leader")
    day = "from=2026-11-25&to=2026-11-25&limit=200"

    async def count(filters: str) -> int:
        status, body = await get(bench, f"/calls?{day}&{filters}", cookie)
        assert status == 200, (filters, body)
        assert body["total"] == len(body["calls"])
        return int(body["total"])

    assert await count("seat=8002") == 30
    assert await count("seat=8001") == 63
    assert await count("queue=invoice") == 30
    assert await count("queue=发票业务") == 30
    assert await count("outcome=abandoned") == 10
    assert await count("outcome=排队放弃&queue=iit") == 10
    assert await count("category=complaint") == 1  # corrected by the seat's entry
    assert await count("category=涉税举报") == 1
    assert await count("category=-") == 7
    assert await count(f"number={CALLER}") == 0
    _, body = await get(bench, f"/calls?{day}&seat=8101", cookie)
    row = body["calls"][0]
    assert (row["queue"], row["queue_label"]) == ("property", "财产和行为税")
    assert (row["seat_id"], row["seat_label"]) == ("8101", "合肥远程座席8101")
    assert (row["seat_group"], row["seat_group_label"]) == ("hefei", "合肥市税务局")
    assert (row["category_label"], row["topic_label"], row["outcome_label"]) == (
        "税务咨询", "财产和行为税", "已接通")
    _, body = await get(bench, f"/calls?{day}&seat=8001", cookie)
    first = next(c for c in body["calls"] if c["linkedid"] == "1764000000.001")
    assert (first["question"], first["resolution_label"]) == ("个税专项附加扣除怎么填", "当场解答")


async def test_a_reporter_is_masked_and_never_found_by_number(bench: Bench) -> None:
    """A search by the reporter's number finds only the consultation: not the tip-off,
    and not the call the seat corrected to a complaint (a masked row found by a number
    would tell that the number reported). In a listing both are masked (number, name,
    callback number) and the full number appears nowhere in the answer. The search is
    audited with the number masked."""
    await seed(bench)
    cookie = await as_role(bench, "leader")
    status, body = await get(bench, f"/calls?number={REPORTER}", cookie)
    assert status == 200, body
    assert [c["linkedid"] for c in body["calls"]] == ["1764000000.112"]
    assert body["calls"][0]["caller_number"] == REPORTER  # a consultation: not secret
    status, body = await get(bench, "/calls?from=2026-11-25&to=2026-11-25&seat=8001&"
                             "limit=200", cookie)
    secret = [c for c in body["calls"] if c["linkedid"] in ("1764000000.110",
                                                            "1764000000.111")]
    assert len(secret) == 2
    for row in secret:
        assert row["masked"] is True
        assert row["caller_number"] == "139****5678"
    assert secret[-1]["caller_name"] == "举***"
    assert {c["callback_number"] for c in secret} == {None, "139****5678"}
    assert REPORTER not in json.dumps(secret, ensure_ascii=False)
    searches = [a for a in audit(bench) if a[1] == "call.search"]
    assert searches[0][3] is not None
    assert "139****5678" in searches[0][3]
    assert REPORTER not in json.dumps(audit(bench), ensure_ascii=False)


async def test_who_sees_which_calls(bench: Bench) -> None:
    """A seat sees only the calls its own seat answered (asking for another seat's is
    refused, role-required, audited); a city bureau's auditor only its bureau's; a
    leader every call; an admin none (no ledger.read)."""
    await seed(bench)
    day = "from=2026-11-25&to=2026-11-25&limit=200"
    seat = await as_role(bench, "seat", seat="8002", bureau="centre")
    status, body = await get(bench, f"/calls?{day}", seat)
    assert (status, body["total"]) == (200, 30)
    assert {c["seat_id"] for c in body["calls"]} == {"8002"}
    status, body = await get(bench, f"/calls?{day}&seat=8001", seat)
    assert (status, body["error"]) == (403, "role-required")
    status, body = await get(bench, "/calls/1764000000.001", seat)
    assert (status, body["error"]) == (403, "role-required")
    assert any(a[1] == "api.refused" and a[2] == "call:1764000000.001" for a in audit(bench))
    hefei = await as_role(bench, "auditor", bureau="hefei")
    status, body = await get(bench, f"/calls?{day}", hefei)
    assert (status, body["total"]) == (200, 10)
    status, names = await get(bench, "/calls/names", hefei)
    assert [s["id"] for s in names["seats"]] == ["8101"]
    leader = await as_role(bench, "leader")
    status, body = await get(bench, f"/calls?{day}", leader)
    assert body["total"] == 120
    admin = await as_role(bench, "admin")
    status, body = await get(bench, f"/calls?{day}", admin)
    assert (status, body["error"]) == (403, "role-required")


async def test_one_call_and_an_auditors_unmask_with_a_reason(bench: Bench) -> None:
    """GET /calls/{id} shows the tip-off masked (audited call.view); an auditor who gives
    a reason sees the number (audited call.unmask with the reason); without a reason it
    is refused (api-bad-query); a leader's unmask is refused (role-required, audited
    call.unmask_refused); an unknown call is api-not-found."""
    await seed(bench)
    leader = await as_role(bench, "leader")
    status, body = await get(bench, "/calls/1764000000.110", leader)
    assert status == 200, body
    assert (body["caller_number"], body["masked"], body["category_label"]) == (
        "139****5678", True, "涉税举报")
    status, body = await get(bench, "/calls/1764000000.110?unmask=1&reason=x", leader)
    assert (status, body["error"]) == (403, "role-required")
    auditor = await as_role(bench, "auditor")
    status, body = await get(bench, "/calls/1764000000.110?unmask=1", auditor)
    assert (status, body["error"]) == (400, "api-bad-query")
    status, body = await get(bench, "/calls/1764000000.110?unmask=1&reason=核查举报线索",
                             auditor)
    assert status == 200, body
    assert (body["caller_number"], body["masked"]) == (REPORTER, False)
    status, body = await get(bench, "/calls/nope", auditor)
    assert (status, body["error"]) == (404, "api-not-found")
    actions = [(a[1], a[3]) for a in audit(bench) if a[1].startswith("call.")
               and a[2] == "call:1764000000.110"]
    assert actions == [("call.view", None), ("call.unmask_refused", None),
                       ("call.unmask", json.dumps({"reason": "核查举报线索"},
                                                  ensure_ascii=False))]


async def test_interval_figures_of_known_calls(bench: Bench) -> None:
    """30-minute intervals of iit on the day: calls 0-29 joined the queue 09:00-09:29
    (30 offered, all answered, wait 10 s), calls 100-109 at 10:40-10:49 (10 abandoned,
    wait 30 s), 111-112 at 10:51-10:52 (answered, 10 s); 48 intervals in all, the quiet
    ones zero. 60-minute intervals of every queue add invoice and property."""
    await seed(bench)
    cookie = await as_role(bench, "leader")
    status, body = await get(bench, "/reports/intervals?date=2026-11-25&queue=iit&minutes=30",
                             cookie)
    assert status == 200, body
    rows = {r["start"]: r for r in body["intervals"]}
    assert len(body["intervals"]) == 48
    assert body["queue_label"] == "个人所得税"
    nine = rows["09:00"]
    assert (nine["offered"], nine["answered"], nine["abandoned"], nine["connection_rate"],
            nine["avg_wait"]) == (30, 30, 0, 1.0, 10.0)
    assert (rows["09:30"]["offered"], rows["09:30"]["answered"]) == (30, 30)
    half = rows["10:30"]
    assert (half["offered"], half["answered"], half["abandoned"]) == (12, 2, 10)
    assert half["connection_rate"] == pytest.approx(2 / 12)
    assert half["avg_wait"] == pytest.approx(round((10 * 30 + 2 * 10) / 12, 1))
    assert rows["08:00"] == {"start": "08:00", "end": "08:30", "offered": 0, "answered": 0,
                             "abandoned": 0, "connection_rate": None, "avg_wait": None}
    status, body = await get(bench, "/reports/intervals?date=2026-11-25&minutes=60", cookie)
    hours = {r["start"]: r["offered"] for r in body["intervals"] if r["offered"]}
    # 09:00 60 iit; 10:00 30 invoice, 10 property, 10 abandoned, 3 of REPORTER's
    assert hours == {"09:00": 60, "10:00": 53}
    for bad in ("date=2026-13-01", "date=2026-11-25&minutes=20",
                "date=2026-11-25&queue=nope", "minutes=30", "date=2026-11-25&x=1"):
        status, body = await get(bench, f"/reports/intervals?{bad}", cookie)
        assert (status, body["error"]) == (400, "api-bad-query"), bad


async def test_bad_search_parameters_are_refused_with_their_id(bench: Bench) -> None:
    """A bad date, an end before the start, a number that is no number, an unknown
    queue, category or outcome, a limit out of range, a forged cursor, an unknown or a
    repeated parameter: 400 api-bad-query, never a 500."""
    cookie = await as_role(bench, "leader")
    for bad in ("from=2026-02-30", "from=2026-11-25&to=2026-11-24", "number=abc",
                "queue=nope", "category=x", "outcome=x", "limit=0", "limit=201",
                "cursor=!!!", "cursor=Zm9v", "sort=1", "seat=1&seat=2", "from=20261125"):
        status, body = await get(bench, f"/calls?{bad}", cookie)
        assert (status, body["error"]) == (400, "api-bad-query"), (bad, body)


async def test_the_quarterly_report_downloads_in_every_format(bench: Bench) -> None:
    """The quarterly report as PDF (starts with %PDF; its text, by pdftotext, has the
    title, 接通率 and the queue's Chinese name), XLSX (a workbook whose sheets are the
    sections), CSV, JSON, and HTML: inline with a CSP that lets only this host frame it,
    or as a download. Each one is audited (report.read)."""
    await seed(bench)
    cookie = await as_role(bench, "leader")
    client = bench.client
    base = "/api/v1/reports/quarterly?quarter=2026Q4"
    async with client.get(f"{base}&format=pdf", headers={"Cookie": cookie}) as res:
        assert res.status == 200
        assert res.headers["Content-Type"] == "application/pdf"
        assert "attachment" in res.headers["Content-Disposition"]
        pdf = await res.read()
    assert pdf.startswith(b"%PDF")
    text = pdf_text(pdf)
    for words in ("12366纳税服务热线运行情况", "接通率", "个人所得税", "合肥市税务局"):
        assert words in text, words
    async with client.get(f"{base}&format=xlsx", headers={"Cookie": cookie}) as res:
        from openpyxl import load_workbook

        book = load_workbook(io.BytesIO(await res.read()))
        assert "各队列" in book.sheetnames
        assert "考核指标" in book.sheetnames
    async with client.get(f"{base}&format=html", headers={"Cookie": cookie}) as res:
        assert res.status == 200
        assert "frame-ancestors 'self'" in res.headers["Content-Security-Policy"]
        assert "Content-Disposition" not in res.headers
        assert "id='by_queue'" in await res.text()
    async with client.get(f"{base}&format=csv&download=1",
                          headers={"Cookie": cookie}) as res:
        assert "各队列" in await res.text()
    status, body = await get(bench, "/reports/quarterly?quarter=2026Q4&format=json", cookie)
    assert status == 200
    assert {r["queue_name"] for r in body["by_queue"]} >= {"个人所得税", "发票业务"}
    assert sum(1 for a in audit(bench) if a[1] == "report.read") == 5
    for bad in ("quarter=2026Q5", "format=pdf", "quarter=2026Q4&format=doc"):
        status, body = await get(bench, f"/reports/quarterly?{bad}", cookie)
        assert (status, body["error"]) == (400, "api-bad-query"), bad


async def test_the_export_download_has_date_and_number_cells(bench: Bench) -> None:
    """GET /ledger/export as XLSX: Chinese headers, times as date cells, waits as
    numbers, Chinese names for category, queue, seat group and outcome, the reporter
    masked; as CSV: the same headers; audited ledger.export; a city bureau's auditor
    gets only its bureau's calls."""
    from openpyxl import load_workbook

    await seed(bench)
    cookie = await as_role(bench, "leader")
    query = "from=2026-11-25&to=2026-11-25"
    async with bench.client.get(f"/api/v1/ledger/export?{query}&format=xlsx",
                                headers={"Cookie": cookie}) as res:
        assert res.status == 200
        data = await res.read()
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    header = list(rows[0])
    assert len(rows) == 121
    row = dict(zip(header, rows[1], strict=True))
    assert isinstance(row["开始时间"], datetime)
    assert row["开始时间"] == datetime(2026, 11, 25, 9, 0)
    assert row["等待秒"] == 10
    cells = {c.value: i for i, c in enumerate(next(sheet.iter_rows(max_row=1)))}
    second = next(sheet.iter_rows(min_row=2, max_row=2))
    start, wait = second[cells["开始时间"]], second[cells["等待秒"]]
    assert (start.data_type, start.number_format) == ("d", "yyyy-mm-dd hh:mm:ss")
    assert (wait.data_type, wait.number_format) == ("n", "0.0")
    assert (row["业务类别"], row["队列"], row["座席所属"], row["结果"]) == (
        "税务咨询", "个人所得税", "省局12366中心", "已接通")
    tip = dict(zip(header, next(r for r in rows if r[0] == "1764000000.110"), strict=True))
    assert tip["来电号码"] == "139****5678"
    assert all(REPORTER not in str(v) for r in rows for v in r
               if r[0] in ("1764000000.110", "1764000000.111"))
    async with bench.client.get(f"/api/v1/ledger/export?{query}&format=csv",
                                headers={"Cookie": cookie}) as res:
        text = (await res.read()).decode("utf-8-sig")
    assert text.splitlines()[0].split(",") == header
    assert any(a[1] == "ledger.export" and "xlsx 120 calls" in (a[3] or "")
               for a in audit(bench))
    hefei = await as_role(bench, "auditor", bureau="hefei")
    async with bench.client.get(f"/api/v1/ledger/export?{query}&format=csv",
                                headers={"Cookie": hefei}) as res:
        lines = (await res.read()).decode("utf-8-sig").splitlines()
    assert len(lines) == 11
    status, body = await get(bench, "/ledger/export?from=2026-11-25", cookie)
    assert (status, body["error"]) == (400, "api-bad-query")


async def test_the_pages_and_the_landing_pages_links_by_role(bench: Bench) -> None:
    """/workbench/calls is served to a seat with the pages' CSP (scripts from this host
    only); /workbench/reports sends a seat back to the landing page and is served to a
    leader; the landing page links 来电记录 for a seat and both pages for a leader, neither
    for a liaison; without a login the pages go to /login."""
    seat = await as_role(bench, "seat", seat="8001", bureau="centre")
    leader = await as_role(bench, "leader")
    liaison = await as_role(bench, "liaison", department="税政科")

    async def page(path: str, cookie: str | None) -> tuple[int, str, Any]:
        headers = {"Cookie": cookie} if cookie else {}
        async with bench.client.get(path, headers=headers, allow_redirects=False) as res:
            return res.status, await res.text(), res.headers

    status, text, headers = await page("/workbench/calls", seat)
    assert status == 200
    assert "来电记录查询" in text
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    status, _, headers = await page("/workbench/reports", seat)
    assert (status, headers["Location"]) == (303, "/workbench/")
    status, text, _ = await page("/workbench/reports", leader)
    assert (status, "季度报表" in text) == (200, True)
    status, _, headers = await page("/workbench/calls", None)
    assert (status, headers["Location"]) == (303, "/login")
    for who, cookie, links in (("seat", seat, ["calls-page"]),
                               ("leader", leader, ["calls-page", "reports-page"]),
                               ("liaison", liaison, [])):
        status, text, _ = await page("/workbench/", cookie)
        assert status == 200
        assert [a for a in ("calls-page", "reports-page") if f'id="{a}"' in text] == links, who
    for name in ("calls.js", "reports.js", "records.css"):
        status, _, _ = await page(f"/static/workbench-{name}", None)
        assert status == 200


def test_the_pages_assets_exist() -> None:
    """The pages' files are in the package (pyproject's package data names them)."""
    folder = Path(__file__).parents[2] / "hotline" / "features" / "reports"
    for name in ("calls.html", "calls.js", "reports.html", "reports.js", "records.css"):
        assert (folder / name).is_file(), name


async def test_the_openapi_document_names_the_query_parameters(bench: Bench) -> None:
    """The OpenAPI document lists each new route's query parameters (what a script may
    send), and each is one the route takes (an unknown one is api-bad-query)."""
    _, doc = await bench.call("GET", "/openapi.json")
    listed = {p["name"] for p in doc["paths"]["/api/v1/calls"]["get"]["parameters"]}
    assert listed == {"from", "to", "number", "seat", "queue", "category", "outcome",
                      "limit", "cursor"}
    export = doc["paths"]["/api/v1/ledger/export"]["get"]["parameters"]
    assert {p["name"] for p in export} == {"from", "to", "format"}


async def test_hostile_parameters_never_get_a_500(bench: Bench) -> None:
    """Control characters, very long values, odd Unicode, percent-encoded NULs and
    malformed cursors in every new route's parameters: each answer is 4xx JSON with an
    error id (or a 200 that found nothing), never a 500."""
    cookie = await as_role(bench, "auditor")
    nasty = ["%00", "%0a", "x" * 5000, "１３９５５１２５６７８", "\u202e123",
             "'; DROP TABLE calls;--", "%FF%FE", "-1", "9" * 30, "2026-11-25T00:00",
             "%E4%B8%AD"]
    routes = {"/calls": ("from", "to", "number", "seat", "queue", "category", "outcome",
                         "limit", "cursor"),
              "/calls/1764000000.001": ("unmask", "reason"),
              "/reports/intervals": ("date", "queue", "minutes"),
              "/reports/quarterly": ("quarter", "format"),
              "/ledger/export": ("from", "to", "format")}
    for path, keys in routes.items():
        for key in keys:
            for value in nasty:
                async with bench.client.get(f"/api/v1{path}?{key}={value}",
                                            headers={"Cookie": cookie}) as res:
                    assert res.status < 500, (path, key, value)
                    if res.status >= 400:
                        body = await res.json()
                        assert body["error"] in ("api-bad-query", "api-not-found"), body
