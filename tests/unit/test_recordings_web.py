"""The recordings' API (/api/v1/recordings) through aiohttp's test client on a real ledger:
who lists which recordings, the WAV served (audio/wav) to who may play it with a reason,
each play audited with the reason, refusals by error id."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta

from hotline.ledger.recordings import RecordingBook, RecordingRow
from tests.unit.test_accounts_web import T0, Bench, bench, people  # noqa: F401 (a fixture)

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt "


async def saved(on: Bench, seat: str, category: str | None, hours_ago: int) -> RecordingRow:
    book = RecordingBook(on.ledger)
    at = T0 - timedelta(hours=hours_ago)
    row = await book.begin(linkedid="1700000000.9", seat=seat, category=category, at=at)
    file = on.path.parent / "recordings" / row.file
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(WAV + str(row.id).encode())
    return await book.saved(row.id, at=at + timedelta(minutes=1), seconds=60.0)


def plays(on: Bench) -> list[tuple[str, str, str]]:
    con = sqlite3.connect(on.path)
    try:
        rows = con.execute("SELECT actor, target, detail FROM audit "
                           "WHERE action = 'recording.play' ORDER BY id").fetchall()
    finally:
        con.close()
    return [(a, t, json.loads(d)["reason"]) for a, t, d in rows]


async def test_listing_by_role(bench: Bench) -> None:  # noqa: F811
    """A leader lists every recording (the tip-off's too, flagged confidential, without a
    file path); a seat only its own seat's, and asking for another seat is 403
    recording-not-allowed; a bad status or day is 400 api-bad-query."""
    p = await people(bench)
    own = await saved(bench, "8001", "consultation", 3)
    tip_off = await saved(bench, "8002", "tip_off", 2)
    status, body = await bench.call("GET", "/recordings", *p["leader"])
    assert status == 200
    assert [r["id"] for r in body["recordings"]] == [tip_off.id, own.id]
    assert body["recordings"][0]["confidential"] is True
    assert all("file" not in r for r in body["recordings"])
    status, body = await bench.call("GET", "/recordings", *p["seat"])
    assert [r["id"] for r in body["recordings"]] == [own.id]
    status, body = await bench.call("GET", "/recordings?seat=8002", *p["seat"])
    assert (status, body["error"]) == (403, "recording-not-allowed")
    status, body = await bench.call("GET", "/recordings?category=tip_off", *p["auditor"])
    assert [r["id"] for r in body["recordings"]] == [tip_off.id]
    status, body = await bench.call("GET", "/recordings?status=lost", *p["leader"])
    assert (status, body["error"]) == (400, "api-bad-query")
    status, body = await bench.call("GET", "/recordings?since=2026-13-01", *p["leader"])
    assert (status, body["error"]) == (400, "api-bad-query")


async def test_audio_served_with_a_reason_and_audited(bench: Bench) -> None:  # noqa: F811
    """The leader gets the tip-off's WAV bytes (audio/wav) with ?reason=, and the play is
    audited with that reason; without a reason it is 400 recording-no-reason; a seat and
    an expert get 403 recording-not-allowed for it; a seat plays its own ordinary call;
    an unknown id is 404 recording-unknown."""
    p = await people(bench)
    own = await saved(bench, "8001", "consultation", 3)
    tip_off = await saved(bench, "8001", "tip_off", 2)
    url = f"/api/v1/recordings/{tip_off.id}/audio"
    async with bench.client.get(url, params={"reason": "核实举报内容"},
                                headers={"Cookie": p["leader"][0]}) as res:
        assert res.status == 200
        assert res.headers["Content-Type"].startswith("audio/wav")
        assert await res.read() == WAV + str(tip_off.id).encode()
    status, body = await bench.call("GET", f"/recordings/{tip_off.id}/audio", *p["leader"])
    assert (status, body["error"]) == (400, "recording-no-reason")
    for role in ("seat", "expert"):
        status, body = await bench.call(
            "GET", f"/recordings/{tip_off.id}/audio?reason=复核", *p[role])
        assert (status, body["error"]) == (403, "recording-not-allowed"), role
    async with bench.client.get(f"/api/v1/recordings/{own.id}/audio",
                                params={"reason": "自查答复"},
                                headers={"Cookie": p["seat"][0]}) as res:
        assert res.status == 200
        assert await res.read() == WAV + str(own.id).encode()
    status, body = await bench.call("GET", "/recordings/4242/audio?reason=核实", *p["leader"])
    assert (status, body["error"]) == (404, "recording-unknown")
    assert plays(bench) == [("p-leader", f"recording:{tip_off.id}", "核实举报内容"),
                            ("p-seat", f"recording:{own.id}", "自查答复")]
