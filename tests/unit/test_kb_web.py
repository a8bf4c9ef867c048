"""The knowledge base's API (/api/v1/kb) through aiohttp's test client on a real ledger:
a seat drafts, an expert reviews, a leader publishes, the seat's search finds it; an
edit from a stale version is 409 kb-changed and the old text stays readable; an import
with a bad row is 400 naming the line and stores nothing; the export is a file; the
page needs a login and the home page links it by role."""

from __future__ import annotations

from typing import Any

from tests.unit.test_accounts_web import Bench, bench, people  # noqa: F401 (a fixture)

DRAFT = {"question": "电子发票怎么开具？", "phrasings": ["数电票如何开"],
         "answer": "登录电子税务局，进入“开票业务”。",
         "spoken": "您可以登录电子税务局开具电子发票。", "topic": "invoice",
         "effective_until": "2027-03-31"}


async def as_(on: Bench, who: tuple[str, str], method: str, path: str,
              body: Any = None) -> tuple[int, Any]:
    return await on.call(method, path, who[0], who[1], json=body)


async def test_draft_review_publish_and_search(bench: Bench) -> None:  # noqa: F811
    """The way of an entry over the API, each step by its role (the writer may not
    review, the expert may not publish: 403 with the error id); the seat's search finds
    the published answer; the list's expiring filter shows it."""
    p = await people(bench)
    status, body = await as_(bench, p["seat"], "POST", "/kb", DRAFT)
    assert (status, body["id"], body["latest"]["status"]) == (201, "KB-00001", "draft")
    status, body = await as_(bench, p["seat"], "POST", "/kb/KB-00001/review", {})
    assert (status, body["error"]) == (403, "role-required")
    status, body = await as_(bench, p["expert"], "POST", "/kb/KB-00001/review", {})
    assert (status, body["status"], body["reviewed_by"]) == (200, "reviewed", "p-expert")
    status, body = await as_(bench, p["expert"], "POST", "/kb/KB-00001/publish", {})
    assert (status, body["error"]) == (403, "role-required")
    status, body = await as_(bench, p["leader"], "POST", "/kb/KB-00001/publish",
                             {"version": 1})
    assert (status, body["status"]) == (200, "published")
    status, body = await as_(bench, p["seat"], "GET", "/kb/search?q=怎么开电子发票")
    assert [f["id"] for f in body["found"]] == ["KB-00001"]
    status, body = await as_(bench, p["liaison"], "GET", "/kb?expiring=1")
    assert [e["id"] for e in body["entries"]] == ["KB-00001"]
    await as_(bench, p["seat"], "POST", "/kb", {**DRAFT, "question": "发票丢失怎么办"})
    status, body = await as_(bench, p["seat"], "GET", "/kb?limit=1&offset=1")
    assert ([e["id"] for e in body["entries"]], body["total"]) == (["KB-00002"], 2)
    status, body = await as_(bench, p["seat"], "GET", "/kb?limit=501")
    assert (status, body["error"]) == (400, "api-bad-query")
    status, body = await as_(bench, p["seat"], "POST", "/kb", {**DRAFT, "topic": "tariff"})
    assert (status, body["error"]) == (400, "kb-invalid")
    assert "not a dialplan topic" in body["message"]
    status, body = await as_(bench, p["seat"], "POST", "/kb", {**DRAFT, "extra": 1})
    assert (status, body["error"]) == (400, "api-bad-body")


async def test_edit_conflict_and_versions(bench: Bench) -> None:  # noqa: F811
    """PATCH with the base version makes a new draft keeping the other fields; a second
    PATCH from the same base is 409 kb-changed; GET shows both versions' texts."""
    p = await people(bench)
    await as_(bench, p["seat"], "POST", "/kb", DRAFT)
    status, body = await as_(bench, p["expert"], "PATCH", "/kb/KB-00001",
                             {"base": 1, "answer": "新流程：我要办税—开票业务。", "note": "更新"})
    assert (status, body["version"], body["phrasings"]) == (200, 2, ["数电票如何开"])
    status, body = await as_(bench, p["seat"], "PATCH", "/kb/KB-00001",
                             {"base": 1, "answer": "另一种改法"})
    assert (status, body["error"]) == (409, "kb-changed")
    status, body = await as_(bench, p["seat"], "GET", "/kb/KB-00001")
    assert [v["answer"] for v in body["versions"]] == [DRAFT["answer"],
                                                       "新流程：我要办税—开票业务。"]
    status, body = await as_(bench, p["seat"], "GET", "/kb/KB-00077")
    assert (status, body["error"]) == (404, "kb-entry-unknown")


async def test_import_bad_row_and_export(bench: Bench) -> None:  # noqa: F811
    """An import whose second row lacks its answer is 400 naming line 6, and nothing is
    stored; fixed, it stores two drafts; the CSV export names both."""
    p = await people(bench)
    text = ("entries:\n"
            "  - question: 电子发票怎么开具？\n    answer: 登录电子税务局。\n"
            "    spoken: 可登录电子税务局开具。\n    topic: invoice\n"
            "  - question: 个税汇算什么时候？\n    spoken: 三月至六月。\n"
            "    topic: individual_income_tax\n")
    status, body = await as_(bench, p["seat"], "POST", "/kb/import",
                             {"format": "yaml", "text": text, "name": "faq.yaml"})
    assert (status, body["error"]) == (400, "kb-invalid")
    assert "faq.yaml:6: answer: missing" in body["message"]
    _, body = await as_(bench, p["seat"], "GET", "/kb")
    assert body["entries"] == []
    fixed = text.replace("    spoken: 三月至六月。", "    answer: 每年3月1日至6月30日。\n"
                         "    spoken: 三月至六月。")
    status, body = await as_(bench, p["seat"], "POST", "/kb/import",
                             {"format": "yaml", "text": fixed, "name": "faq.yaml"})
    assert (status, body["imported"]) == (201, ["KB-00001", "KB-00002"])
    status, body = await as_(bench, p["auditor"], "GET", "/kb/export?format=csv")
    assert status == 200
    assert body["file"].startswith("\ufeffquestion,")
    assert "KB-00002" in body["file"]


async def test_the_page_needs_a_login_and_is_linked_by_role(bench: Bench) -> None:  # noqa: F811
    """/workbench/kb sends a visitor without a session to /login and serves the page to
    a logged-in person; the home page links it (知识库)."""
    p = await people(bench)
    async with bench.client.get("/workbench/kb", allow_redirects=False) as res:
        assert (res.status, res.headers["Location"]) == (303, "/login")
    async with bench.client.get("/workbench/kb", headers={"Cookie": p["seat"][0]}) as res:
        assert res.status == 200
        assert "知识库" in await res.text()
    async with bench.client.get("/workbench/", headers={"Cookie": p["liaison"][0]}) as res:
        assert 'id="kb-page"' in await res.text()
    async with bench.client.get("/static/workbench-kb-search.js") as res:
        assert res.status == 200
