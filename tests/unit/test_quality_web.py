"""The quality review's API (/api/v1/quality/...) through aiohttp's test client on a real
ledger: the queue with each call's recording for the player, a leader's pick, the form,
a review posted by an expert, a seat's own reviews; refusals and bad bodies by error id."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from hotline.common.clock import CHINA
from hotline.ledger.recordings import RecordingBook
from tests.unit.test_accounts_web import T0, Bench, bench, people  # noqa: F401 (a fixture)
from tests.unit.test_quality_desk import answered

A, B = "演示座席8001", "演示座席8002"
FULL = {"accuracy": 30, "completeness": 20, "attitude": 15, "language": 7}  # 72 of 100


async def seeded(on: Bench) -> int:
    """Four answered calls of Monday (two of seat 8001's, two of 8002's); Q1 has a saved
    recording: its id."""
    monday = datetime.combine((T0 - timedelta(days=2)).date(), time(9), CHINA)
    await on.ledger.upsert_calls(
        [answered("Q1", A, "centre", monday), answered("Q2", A, "centre", monday),
         answered("Q3", B, "centre", monday), answered("Q4", B, "centre", monday)], T0)
    book = RecordingBook(on.ledger)
    row = await book.begin(linkedid="Q1", seat=A, category="consultation", at=monday)
    await book.saved(row.id, at=monday + timedelta(minutes=3), seconds=170.0)
    return row.id


async def test_pick_form_review_and_a_seats_own(bench: Bench) -> None:  # noqa: F811
    """A leader adds Q1 (201, reason leader) and sees it in the queue with its recording's
    id and no caller's number; adding it again is 409 quality-already-drawn, an unknown
    call 404 quality-not-answered; the expert gets the form's four items (100 points)
    and posts a review (201, 72 %); a second one is 409 quality-reviewed; the seat of
    8001 reads its review and its reviewed call, never the pending ones; another seat's
    filter is 403 quality-not-allowed."""
    p = await people(bench)
    recording = await seeded(bench)
    status, body = await bench.call("POST", "/quality/queue", *p["leader"],
                                    json={"linkedid": "Q1"})
    assert (status, body["reason"], body["drawn_by"]) == (201, "leader", "p-leader")
    status, body = await bench.call("POST", "/quality/queue", *p["leader"],
                                    json={"linkedid": "Q3"})
    assert status == 201
    status, body = await bench.call("GET", "/quality/queue?pending=1", *p["leader"])
    assert status == 200
    assert {c["linkedid"] for c in body["calls"]} == {"Q1", "Q3"}
    first = next(c for c in body["calls"] if c["linkedid"] == "Q1")
    assert (first["recording_id"], first["status_label"]) == (recording, "待质检")
    assert "13955112345" not in str(body)
    status, body = await bench.call("POST", "/quality/queue", *p["leader"],
                                    json={"linkedid": "Q1"})
    assert (status, body["error"]) == (409, "quality-already-drawn")
    status, body = await bench.call("POST", "/quality/queue", *p["leader"],
                                    json={"linkedid": "nope"})
    assert (status, body["error"]) == (404, "quality-not-answered")
    status, body = await bench.call("GET", "/quality/form", *p["expert"])
    assert [i["label"] for i in body["items"]] == ["政策解答准确性", "解答完整性", "服务态度",
                                                   "规范用语"]
    assert body["maximum"] == 100
    status, body = await bench.call("POST", "/quality/reviews", *p["expert"],
                                    json={"linkedid": "Q1", "scores": FULL,
                                          "comment": "政策依据未说明"})
    assert (status, body["percent"], body["reviewer"]) == (201, 72.0, "p-expert")
    review = body["id"]
    status, body = await bench.call("POST", "/quality/reviews", *p["leader"],
                                    json={"linkedid": "Q1", "scores": FULL})
    assert (status, body["error"]) == (409, "quality-reviewed")
    status, body = await bench.call("GET", "/quality/reviews", *p["seat"])
    assert [r["id"] for r in body["reviews"]] == [review]
    assert body["reviews"][0]["items"][0] == {"key": "accuracy", "label": "政策解答准确性",
                                              "max": 40, "score": 30.0}
    status, body = await bench.call("GET", "/quality/queue", *p["seat"])
    assert [c["linkedid"] for c in body["calls"]] == ["Q1"]
    status, body = await bench.call("GET", f"/quality/reviews/{review}", *p["seat"])
    assert (status, body["comment"], body["draw"]["linkedid"]) == (200, "政策依据未说明", "Q1")
    status, body = await bench.call("GET", "/quality/reviews?seat=8002", *p["seat"])
    assert (status, body["error"]) == (403, "quality-not-allowed")
    status, body = await bench.call("GET", "/quality/queue?pending=1", *p["seat"])
    assert (status, body["error"]) == (403, "quality-not-allowed")


async def test_bad_reviews_are_refused_by_name(bench: Bench) -> None:  # noqa: F811
    """A review of an undrawn call is 409 quality-not-drawn; scores out of range or
    missing are 400 quality-bad-score naming the item; scores that are not an object and
    unknown fields are 400 api-bad-body; the expert may not review its own seat's call
    (403 quality-not-allowed); an unknown review id is 404 quality-review-unknown."""
    p = await people(bench)
    await seeded(bench)
    await bench.call("POST", "/quality/queue", *p["leader"], json={"linkedid": "Q3"})
    status, body = await bench.call("POST", "/quality/reviews", *p["leader"],
                                    json={"linkedid": "Q2", "scores": FULL})
    assert (status, body["error"]) == (409, "quality-not-drawn")
    await bench.call("POST", "/quality/queue", *p["leader"], json={"linkedid": "Q2"})
    status, body = await bench.call("POST", "/quality/reviews", *p["leader"],
                                    json={"linkedid": "Q2", "scores": {**FULL,
                                                                       "attitude": 25}})
    assert (status, body["error"]) == (400, "quality-bad-score")
    assert "attitude" in body["message"]
    status, body = await bench.call("POST", "/quality/reviews", *p["leader"],
                                    json={"linkedid": "Q2", "scores": {"accuracy": 40}})
    assert (status, body["error"]) == (400, "quality-bad-score")
    assert "completeness" in body["message"]
    status, body = await bench.call("POST", "/quality/reviews", *p["leader"],
                                    json={"linkedid": "Q2", "scores": [1, 2]})
    assert (status, body["error"]) == (400, "api-bad-body")
    status, body = await bench.call("POST", "/quality/reviews", *p["leader"],
                                    json={"linkedid": "Q2", "scores": FULL, "by": "x"})
    assert (status, body["error"]) == (400, "api-bad-body")
    status, body = await bench.call("POST", "/quality/reviews", *p["expert"],
                                    json={"linkedid": "Q3", "scores": FULL})
    assert (status, body["error"]) == (403, "quality-not-allowed")
    status, body = await bench.call("GET", "/quality/reviews/4242", *p["leader"])
    assert (status, body["error"]) == (404, "quality-review-unknown")


async def test_the_page_is_served_to_people_logged_in(bench: Bench) -> None:  # noqa: F811
    """/workbench/quality sends a visitor without a session to /login; a logged-in seat
    gets the page (Chinese, its script, a policy letting it play this origin's audio);
    the home page links to it for a seat and not for a liaison."""
    p = await people(bench)
    async with bench.client.get("/workbench/quality", allow_redirects=False) as res:
        assert (res.status, res.headers["Location"]) == (303, "/login")
    async with bench.client.get("/workbench/quality",
                                headers={"Cookie": p["seat"][0]}) as res:
        assert res.status == 200
        text = await res.text()
        assert "<title>质检 - 12366 热线</title>" in text
        assert "media-src 'self'" in res.headers["Content-Security-Policy"]
    async with bench.client.get("/static/workbench-quality.js") as res:
        assert res.status == 200
        assert "/quality/queue" in await res.text()
    for role, linked in (("seat", True), ("liaison", False)):
        async with bench.client.get("/workbench/", headers={"Cookie": p[role][0]}) as res:
            assert ('id="quality-page"' in await res.text()) is linked, role
