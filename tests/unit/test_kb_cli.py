"""`hotline kb ...` as the people bound to OS accounts: a seat adds an entry, an expert
reviews it, a leader publishes it, a seat finds it; the wrong person is refused with the
error's id and reason; an edit keeps the old text in `show`; an import with a bad row
stores nothing and names the line; export and re-import round trip."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.cli import REPO, Result, hotline
from tests.unit.test_accounts_cli import init, run


def kb(ledger: Path, *args: str, user: str) -> Result:
    # The line's prompts (built at publication) beside the ledger.
    return hotline("kb", *args, user=user,
                   env={"HOTLINE_LEDGER_PATH": str(ledger),
                        "HOTLINE_ROUTING_PATH": str(REPO / "config" / "routing.yaml"),
                        "HOTLINE_PROMPTS_HOST_DIR": str(ledger.parent / "sounds"),
                        "HOTLINE_PROMPTS_ASTERISK_DIR": "/sounds"})


def people(tmp_path: Path) -> Path:
    ledger = tmp_path / "ledger.sqlite3"
    init(ledger)
    for name, roles, extra in (("li", "seat", ("--seat", "8001")),
                               ("wang", "expert", ("--seat", "8002")),
                               ("zhao", "leader", ()),
                               ("he", "seat", ("--seat", "8101", "--bureau", "hefei"))):
        res = run(ledger, "users", "add", name, "--roles", roles, *extra, "--os-login",
                  f"os-{name}")
        assert res.returncode == 0, res.stderr
    return ledger


ADD = ("add", "--question", "电子发票怎么开具？", "--phrasing", "数电票如何开",
       "--answer", "登录电子税务局，进入“开票业务”。", "--spoken",
       "您可以登录电子税务局开具电子发票。", "--topic", "invoice",
       "--source-number", "国家税务总局公告2024年第1号", "--effective-until", "2027-01-31")


def test_draft_review_publish_search_and_refusals(tmp_path: Path) -> None:
    """The way of an entry from the command line, each step by its role; a seat that
    reviews, an expert that publishes and an unknown topic are refused with their ids;
    `list --expiring` shows it (it ends next quarter); `search` finds it."""
    ledger = people(tmp_path)
    res = kb(ledger, *ADD, user="os-li")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "KB-00001 version 1: 草稿"
    bad = kb(ledger, *ADD[:-6], "--topic", "tariff", user="os-li")
    assert bad.returncode == 1
    assert "[kb-invalid]" in bad.stderr
    assert "not a dialplan topic" in bad.stderr
    res = kb(ledger, "review", "KB-00001", user="os-li")
    assert (res.returncode, "[role-required]" in res.stderr) == (1, True)
    assert kb(ledger, "review", "kb-00001", user="os-wang").stdout.strip() == \
        "KB-00001 version 1: 已审核"
    res = kb(ledger, "publish", "KB-00001", user="os-wang")
    assert "[role-required]" in res.stderr
    assert kb(ledger, "publish", "KB-00001", user="os-zhao").stdout.strip() == \
        "KB-00001 version 1: 已发布"
    found = json.loads(kb(ledger, "search", "怎么开电子发票", "--json", user="os-li").stdout)
    assert [(f["id"], f["version"]) for f in found] == [("KB-00001", 1)]
    listing = kb(ledger, "list", "--expiring", user="os-li").stdout
    assert "KB-00001" in listing
    assert "2027-01-31" in listing
    res = kb(ledger, "add", "--question", "合肥的发票", "--answer", "a", "--spoken", "s",
             "--topic", "invoice", "--scope", "wuhu", user="os-he")
    assert "[kb-not-allowed]" in res.stderr
    assert "own city" in res.stderr
    assert kb(ledger, "show", "KB-99999", user="os-li").stderr.startswith(
        "hotline: [kb-entry-unknown]")


def test_publish_builds_the_lines_prompt_and_refuses_one_over_60_seconds(
        tmp_path: Path) -> None:
    """`kb publish` builds the entry's spoken prompt where the line plays it from; a
    spoken answer that lasts over 60 s when read is refused (kb-prompt-too-long) and
    stays reviewed, not published."""
    ledger = people(tmp_path)
    assert kb(ledger, *ADD, user="os-li").returncode == 0
    assert kb(ledger, "review", "KB-00001", user="os-wang").returncode == 0
    assert kb(ledger, "publish", "KB-00001", user="os-zhao").returncode == 0
    assert (tmp_path / "sounds" / "_kb" / "KB-00001-v1-spoken.wav").is_file()
    # 168 characters (within the draft's 170) that espeak-ng reads in about 65 s: digits
    # are read one by one.
    long_spoken = "电话12366，" * 21
    res = kb(ledger, "add", "--question", "很长的答复", "--answer", "a", "--spoken",
             long_spoken, "--topic", "invoice", user="os-li")
    assert res.returncode == 0, res.stderr
    assert kb(ledger, "review", "KB-00002", user="os-wang").returncode == 0
    res = kb(ledger, "publish", "KB-00002", user="os-zhao")
    assert res.returncode == 1
    assert "[kb-prompt-too-long]" in res.stderr
    assert "超过 60 秒" in res.stderr
    shown = kb(ledger, "show", "KB-00002", user="os-li").stdout
    assert "已审核" in shown
    assert "已发布" not in shown


def test_edit_keeps_the_old_text_and_a_stale_base_is_refused(tmp_path: Path) -> None:
    """`edit --base 1` makes version 2 with the other fields of version 1; `show` prints
    both texts with who wrote them; a second edit from version 1 is kb-changed."""
    ledger = people(tmp_path)
    assert kb(ledger, *ADD, user="os-li").returncode == 0
    res = kb(ledger, "edit", "KB-00001", "--base", "1", "--answer", "新流程：进入“我要办税”。",
             "--note", "流程更新", user="os-wang")
    assert res.stdout.strip() == "KB-00001 version 2: 草稿", res.stderr
    res = kb(ledger, "edit", "KB-00001", "--base", "1", "--answer", "另一种改法",
             user="os-li")
    assert "[kb-changed]" in res.stderr
    shown = kb(ledger, "show", "KB-00001", user="os-li").stdout
    assert "进入“开票业务”" in shown
    assert "新流程" in shown
    assert "流程更新" in shown
    assert "撰写     li" in shown
    assert "撰写     wang" in shown
    data = json.loads(kb(ledger, "show", "KB-00001", "--json", user="os-li").stdout)
    assert [v["phrasings"] for v in data["versions"]] == [["数电票如何开"]] * 2


def test_import_is_whole_or_nothing_and_export_round_trips(tmp_path: Path) -> None:
    """A CSV with a bad row imports nothing and names the row's line; fixed, it imports
    as drafts; the export (YAML) imports again as new versions of the same entries."""
    ledger = people(tmp_path)
    faq = tmp_path / "faq.csv"
    faq.write_text("\ufeffquestion,phrasings,answer,spoken,topic,scope\n"
                   "电子发票怎么开具？,怎么开电子发票|数电票如何开,登录电子税务局。,可登录电子税务局开具。,invoice,\n"
                   "个税汇算什么时候？,,每年3月至6月。,三月至六月。,individual_income_tax,mars\n",
                   encoding="utf-8")
    res = kb(ledger, "import", str(faq), user="os-li")
    assert res.returncode == 1
    assert "nothing was imported" in res.stderr
    assert "faq.csv:3: scope: 'mars'" in res.stderr
    assert "KB-" not in kb(ledger, "list", user="os-li").stdout
    faq.write_text(faq.read_text(encoding="utf-8").replace(",mars", ",hefei"),
                   encoding="utf-8")
    res = kb(ledger, "import", str(faq), user="os-li")
    assert res.stdout.strip() == "2 entries imported as drafts: KB-00001, KB-00002"
    out = tmp_path / "all.yaml"
    assert kb(ledger, "export", str(out), user="os-li").returncode == 0
    assert "怎么开电子发票" in out.read_text(encoding="utf-8")
    res = kb(ledger, "import", str(out), user="os-li")
    assert res.stdout.strip() == "2 entries imported as drafts: KB-00001, KB-00002"
    con = sqlite3.connect(ledger)
    try:
        rows = con.execute("SELECT entry_id, version, status FROM kb_versions ORDER BY "
                           "entry_id, version").fetchall()
        imports = con.execute("SELECT actor FROM audit WHERE action = 'kb.import'"
                              ).fetchall()
    finally:
        con.close()
    assert rows == [("KB-00001", 1, "draft"), ("KB-00001", 2, "draft"),
                    ("KB-00002", 1, "draft"), ("KB-00002", 2, "draft")]
    assert imports == [("li",), ("li",)]
