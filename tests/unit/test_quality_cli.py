"""`hotline quality draw|pick|list|form|review|show` as the people bound to OS accounts, on
a temporary ledger with the repository's quality.yaml and routing.yaml: a leader draws a
day (drawn by the leader's name; a rerun draws nothing) and picks a call, an expert
reviews it with --score items, the seat reads its own review and not another's; bad
scores are refused by name; a seat may not draw or review."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from hotline.common.clock import CHINA
from hotline.ledger.store import Ledger
from tests.cli import Result, hotline
from tests.unit.test_accounts_cli import audit, init, run
from tests.unit.test_quality_desk import MONDAY, answered

A = "演示座席8001"
SCORES = ("--score", "accuracy=36", "--score", "completeness=25", "--score", "attitude=20",
          "--score", "language=8")  # 89 of 100


def quality(ledger: Path, *args: str, user: str) -> Result:
    return hotline("quality", *args, user=user, env={"HOTLINE_LEDGER_PATH": str(ledger)})


def people(tmp_path: Path) -> Path:
    ledger = tmp_path / "ledger.sqlite3"
    init(ledger)
    for name, roles, extra in (("li", "seat", ("--seat", "8001")),
                               ("he", "seat", ("--seat", "8002")),
                               ("qian", "expert", ("--seat", "8002")),
                               ("zhao", "leader", ())):
        res = run(ledger, "users", "add", name, "--roles", roles, *extra, "--os-login",
                  f"os-{name}")
        assert res.returncode == 0, res.stderr

    async def calls() -> None:
        async with await Ledger.open(ledger) as db:
            at = datetime.combine(MONDAY, time(9), CHINA)
            await db.upsert_calls([answered(f"L{n}", A, "centre", at + timedelta(minutes=n))
                                   for n in range(10)], datetime.now(UTC))

    asyncio.run(calls())
    return ledger


def test_draw_pick_review_and_read(tmp_path: Path) -> None:
    """The leader's draw of Monday samples 1 of seat 8001's 10 calls (3 %, rounded up),
    audited by the leader; the rerun draws 0; a seat may not draw (role-required). The
    leader picks another call (领导指定); the expert reviews it (89/100, 89%); the seat
    lists and shows its own review, the other seat may not show it; the form lists the
    four items."""
    ledger = people(tmp_path)
    res = quality(ledger, "draw", "--day", MONDAY.isoformat(), "--json", user="os-zhao")
    assert res.returncode == 0, res.stderr
    drawn = json.loads(res.stdout)
    assert [(d["seat"], d["reason"]) for d in drawn] == [(A, "sampled")]
    res = quality(ledger, "draw", "--day", MONDAY.isoformat(), user="os-zhao")
    assert "抽取质检通话 0 通" in res.stdout
    res = quality(ledger, "draw", user="os-li")
    assert (res.returncode, "[role-required]" in res.stderr) == (1, True)
    other = next(f"L{n}" for n in range(10) if f"L{n}" != drawn[0]["linkedid"])
    res = quality(ledger, "pick", other, user="os-zhao")
    assert res.returncode == 0, res.stderr
    assert "领导指定" in res.stdout
    res = quality(ledger, "pick", other, user="os-zhao")
    assert res.stderr.startswith("hotline: [quality-already-drawn]")
    res = quality(ledger, "list", "--pending", user="os-qian")
    assert res.returncode == 0, res.stderr
    assert "待质检" in res.stdout
    assert "13955112345" not in res.stdout
    res = quality(ledger, "review", other, *SCORES, "--comment", "解答完整", user="os-li")
    assert (res.returncode, "[role-required]" in res.stderr) == (1, True)
    res = quality(ledger, "review", other, *SCORES[:-2], "--score", "language=11",
                  user="os-qian")
    assert res.stderr.startswith("hotline: [quality-bad-score]")
    assert "language" in res.stderr
    assert "from 0 to 10, not 11" in res.stderr
    res = quality(ledger, "review", other, *SCORES, "--comment", "解答完整", "--json",
                  user="os-qian")
    assert res.returncode == 0, res.stderr
    review = json.loads(res.stdout)
    assert (review["total"], review["percent"], review["reviewer"]) == (89.0, 89.0, "qian")
    res = quality(ledger, "list", user="os-li")
    assert other in res.stdout
    assert drawn[0]["linkedid"] not in res.stdout  # drawn, not reviewed: not the seat's
    res = quality(ledger, "show", str(review["id"]), user="os-li")
    assert res.returncode == 0, res.stderr
    assert "政策解答准确性" in res.stdout
    assert "89 / 100（89%）" in res.stdout
    assert "解答完整" in res.stdout
    res = quality(ledger, "show", str(review["id"]), user="os-he")
    assert res.stderr.startswith("hotline: [quality-not-allowed]")
    res = quality(ledger, "form", user="os-qian")
    assert "规范用语" in res.stdout
    assert "合计满分 100" in res.stdout
    trail = audit(ledger)
    assert ("zhao", "quality.draw", f"call:{drawn[0]['linkedid']}") in trail
    assert ("qian", "quality.review", f"review:{review['id']}") in trail
    assert ("he", "quality.refused", f"review:{review['id']}") in trail


def test_a_bad_score_argument_is_refused_in_one_line(tmp_path: Path) -> None:
    """--score must be ITEM=POINTS with a number: argparse refuses it (exit 2) naming the
    argument; an item given twice is refused by name."""
    ledger = people(tmp_path)
    res = quality(ledger, "review", "L1", "--score", "accuracy", user="os-qian")
    assert res.returncode == 2
    assert "argument --score" in res.stderr.splitlines()[-1]
    res = quality(ledger, "review", "L1", "--score", "accuracy=lots", user="os-qian")
    assert "is not a number of points" in res.stderr
    res = quality(ledger, "review", "L1", *SCORES, "--score", "accuracy=1", user="os-qian")
    assert res.stderr.startswith("hotline: [quality-bad-score]")
    assert "accuracy given more than once" in res.stderr


def test_a_broken_plan_is_named_at_its_line(tmp_path: Path) -> None:
    """A quality.yaml with a rate of 3 (not 0.03) is refused at its line by `hotline
    check` (counted as an error) and by `hotline quality form` (exit 2, the problem
    named, quality-plan-invalid's rule)."""
    ledger = people(tmp_path)
    plan = tmp_path / "quality.yaml"
    plan.write_text("rates:\n  centre: 3\n", encoding="utf-8")
    env = {"HOTLINE_LEDGER_PATH": str(ledger), "HOTLINE_QUALITY_PATH": str(plan)}
    res = hotline("check", env=env)
    assert res.returncode == 1
    assert f"{plan}:2: rates.centre: must be a number" in res.stdout
    res = hotline("quality", "form", env=env, user="os-qian")
    assert res.returncode == 2
    assert f"{plan}:2: rates.centre" in res.stderr
