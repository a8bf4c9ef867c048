"""The knowledge base's desk (hotline.features.kb.service) on a real ledger file: who may
draft, review, publish and withdraw; an edit from an old version is refused and an edit
never loses the old text; the publication hook's refusal changes nothing; the search
offers the seat's city first and never another city's local entries; --expiring lists
what stops being in force by the end of next quarter."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from hotline.core.accounts import Person
from hotline.core.kb import Draft, Version
from hotline.features.kb.service import KbDesk, quarter_end, topics_of
from hotline.ledger.errors import KbChanged, KbInvalid, KbNotAllowed
from hotline.ledger.kb import KnowledgeBase
from hotline.ledger.store import Ledger

NOW = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
TOPICS = {"invoice": "发票", "individual_income_tax": "个人所得税"}
DRAFT = Draft(question="电子发票怎么开具？", answer="登录电子税务局，进入“开票业务”。",
              spoken="您可以登录电子税务局开具电子发票。", topic="invoice",
              phrasings=("怎么开电子发票",))
SEAT = Person("li", frozenset({"seat"}), seat="8001", bureau="centre")
SEAT2 = Person("qian", frozenset({"seat"}), seat="8003", bureau="centre")
EXPERT = Person("wang", frozenset({"expert"}), seat="8002", bureau="centre")
LEADER = Person("zhao", frozenset({"leader"}), bureau="centre")
HEFEI = Person("he", frozenset({"seat"}), seat="8101", bureau="hefei", remote=True)
WUHU = Person("wu", frozenset({"seat"}), seat="8201", bureau="wuhu", remote=True)
AUDITOR = Person("shen", frozenset({"auditor"}))


class Hook:
    def __init__(self) -> None:
        self.seen: list[Version] = []
        self.refuse: Exception | None = None

    async def __call__(self, version: Version) -> None:
        self.seen.append(version)
        if self.refuse is not None:
            raise self.refuse


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[Ledger]:
    ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
    try:
        yield ledger
    finally:
        await ledger.close()


def desk_of(ledger: Ledger, hook: Hook | None = None) -> KbDesk:
    return KbDesk(KnowledgeBase(ledger), TOPICS, {"hefei", "wuhu"}, lambda: NOW,
                  on_publish=hook)


async def published(desk: KbDesk, draft: Draft = DRAFT, writer: Person = SEAT) -> str:
    entry = await desk.add(writer, draft)
    await desk.review(EXPERT, entry.id)
    await desk.publish(LEADER, entry.id)
    return entry.id


async def test_a_seat_drafts_an_expert_reviews_a_leader_publishes(ledger: Ledger) -> None:
    """The whole way of an entry, each step by its role and the wrong roles refused with
    the reason: the seat cannot review or publish, the writer cannot review their own
    entry, the expert cannot publish; the hook sees the version before it is live."""
    hook = Hook()
    desk = desk_of(ledger, hook)
    entry = await desk.add(SEAT, DRAFT)
    assert (entry.id, entry.latest.status, entry.latest.written_by) == ("KB-00001", "draft",
                                                                        "li")
    with pytest.raises(KbNotAllowed, match="only an expert"):
        await desk.review(SEAT, entry.id)
    expert_entry = await desk.add(EXPERT, replace(DRAFT, question="发票丢了怎么办"))
    with pytest.raises(KbNotAllowed, match="another expert"):
        await desk.review(EXPERT, expert_entry.id)
    v = await desk.review(EXPERT, "kb-00001")
    assert (v.status, v.reviewed_by) == ("reviewed", "wang")
    with pytest.raises(KbNotAllowed, match="only a team leader"):
        await desk.publish(EXPERT, entry.id)
    v = await desk.publish(LEADER, entry.id)
    assert (v.status, v.published_by) == ("published", "zhao")
    assert [s.entry_id for s in hook.seen] == ["KB-00001"]
    found = await desk.search(SEAT, "电子发票如何开")
    assert [f.version.entry_id for f in found] == ["KB-00001"]
    with pytest.raises(KbNotAllowed):
        await desk.add(AUDITOR, DRAFT)


async def test_a_refused_hook_publishes_nothing(ledger: Ledger) -> None:
    """If the publication hook raises (the spoken prompt over 60 s), the publication is
    refused with its error: the version stays reviewed and search finds nothing; a
    non-hotline error is refused as kb-invalid naming it."""
    hook = Hook()
    desk = desk_of(ledger, hook)
    entry = await desk.add(SEAT, DRAFT)
    await desk.review(EXPERT, entry.id)
    hook.refuse = KbInvalid("spoken: the prompt is 63.2 s, at most 60 s")
    with pytest.raises(KbInvalid, match=r"63\.2 s"):
        await desk.publish(LEADER, entry.id)
    hook.refuse = OSError("espeak-ng not found")
    with pytest.raises(KbInvalid, match="espeak-ng not found"):
        await desk.publish(LEADER, entry.id)
    after = await desk.show(SEAT, entry.id)
    assert (after.live, after.latest.status) == (None, "reviewed")
    assert await desk.search(SEAT, "电子发票") == []


async def test_an_edit_never_loses_the_old_text(ledger: Ledger) -> None:
    """An edit is a new version: the published one stays offered and readable with who
    wrote it; publishing the edit supersedes it, its text still there; an edit made from
    an older version than the newest is refused (kb-changed)."""
    desk = desk_of(ledger)
    eid = await published(desk)
    new = replace(DRAFT, answer="自2026年起，登录电子税务局“我要办税—开票业务”。",
                  note="流程更新")
    v2 = await desk.edit(SEAT2, eid, new, base=1)
    assert (v2.version, v2.status, v2.written_by) == (2, "draft", "qian")
    with pytest.raises(KbChanged, match="version 2 now"):
        await desk.edit(SEAT, eid, replace(DRAFT, answer="另一种改法"), base=1)
    assert (await desk.search(SEAT, "电子发票"))[0].version.version == 1
    await desk.review(EXPERT, eid)
    await desk.publish(LEADER, eid)
    entry = await desk.show(SEAT, eid)
    assert [(v.version, v.status) for v in entry.versions] == [(1, "superseded"),
                                                               (2, "published")]
    assert entry.version(1).draft.answer == DRAFT.answer
    assert (entry.version(1).written_by, entry.version(2).draft.note) == ("li", "流程更新")


async def test_bureaus_draft_their_own_city_and_search_puts_it_first(ledger: Ledger) -> None:
    """A Hefei seat drafts Hefei's local entries only, not the province's or Wuhu's;
    its search puts Hefei's entry before the province's; a Wuhu seat never sees Hefei's
    local entry; the centre sees the province's only."""
    desk = desk_of(ledger)
    with pytest.raises(KbNotAllowed, match="own city"):
        await desk.add(HEFEI, DRAFT)
    with pytest.raises(KbNotAllowed, match="own city"):
        await desk.add(HEFEI, replace(DRAFT, scope="wuhu"))
    province = await published(desk)
    local = await published(desk, replace(DRAFT, scope="hefei",
                                          answer="合肥市：可到政务中心税务窗口开具。"), HEFEI)
    assert [f.version.entry_id for f in await desk.search(HEFEI, "电子发票")] == [local,
                                                                               province]
    assert [f.version.entry_id for f in await desk.search(WUHU, "电子发票")] == [province]
    assert [f.version.entry_id for f in await desk.search(SEAT, "电子发票")] == [province]
    with pytest.raises(KbNotAllowed, match="own city"):
        await desk.edit(WUHU, local, replace(DRAFT, scope="wuhu"), base=1)


async def test_withdraw_needs_a_reason_and_stops_the_offer(ledger: Ledger) -> None:
    """A leader withdraws the live version with a reason (audited with it); it is no
    longer found; a seat may not withdraw; no reason is refused."""
    desk = desk_of(ledger)
    eid = await published(desk)
    with pytest.raises(KbNotAllowed, match="only a team leader"):
        await desk.withdraw(SEAT, eid, "政策废止")
    with pytest.raises(KbInvalid, match="reason"):
        await desk.withdraw(LEADER, eid, "  ")
    v = await desk.withdraw(LEADER, eid, "政策已废止")
    assert (v.status, v.withdrawn_by) == ("withdrawn", "zhao")
    assert await desk.search(SEAT, "电子发票") == []
    con = sqlite3.connect(ledger.path)
    try:
        row = con.execute("SELECT actor, detail FROM audit WHERE action = 'kb.withdraw'"
                          ).fetchone()
    finally:
        con.close()
    assert row[0] == "zhao"
    assert "政策已废止" in row[1]


async def test_bad_drafts_name_every_problem(ledger: Ledger) -> None:
    """A draft with an unknown topic, an unknown scope and a spoken answer too long to
    read in 60 s is refused naming all three; nothing is stored."""
    desk = desk_of(ledger)
    bad = replace(DRAFT, topic="tariff", scope="mars", spoken="很" * 221)
    with pytest.raises(KbInvalid) as err:
        await desk.add(SEAT, bad)
    assert all(w in str(err.value) for w in ("topic: 'tariff'", "scope: 'mars'",
                                              "spoken: 221 characters"))
    assert await desk.listing(SEAT) == []


async def test_listing_filters_and_expiring(ledger: Ledger) -> None:
    """The list filters by status and topic; --expiring gives the live entries whose
    policy ends from today to the end of next quarter (2027-03-31), soonest first, not
    those ending later or without an end."""
    desk = desk_of(ledger)
    late = await published(desk, replace(DRAFT, effective_until=date(2027, 3, 31)))
    soon = await published(desk, replace(DRAFT, question="个税汇算什么时候",
                                          topic="individual_income_tax",
                                          effective_until=date(2026, 12, 31)))
    await published(desk, replace(DRAFT, question="发票红冲",
                                  effective_until=date(2027, 4, 1)))
    await desk.add(SEAT, replace(DRAFT, question="草稿一条"))
    assert [e.id for e in await desk.listing(SEAT, expiring_soon=True)] == [soon, late]
    assert len(await desk.listing(SEAT, status="draft")) == 1
    assert [e.id for e in await desk.listing(SEAT, topic="individual_income_tax")] == [soon]
    with pytest.raises(KbInvalid, match="not a dialplan topic"):
        await desk.listing(SEAT, topic="tariff")


def test_quarter_end_and_the_dialplans_topics() -> None:
    """The end of next quarter from any day; the configured dialplan's topics with the
    labels staff read."""
    assert quarter_end(date(2026, 12, 2)) == date(2027, 3, 31)
    assert quarter_end(date(2026, 1, 1)) == date(2026, 6, 30)
    assert quarter_end(date(2026, 9, 30), 0) == date(2026, 9, 30)
    from hotline.features.ivr.registry import load_all

    plans = load_all([Path(__file__).parents[2] / "dialplans"]).plans.values()
    topics = topics_of(plans)
    assert set(topics) >= {"individual_income_tax", "social_insurance", "invoice",
                           "property_and_land", "other"}


async def test_a_search_is_not_audited_and_its_text_is_not_logged(ledger: Ledger) -> None:
    """A search adds no audit row and logs nothing of what was typed; a search by
    someone without kb.read is refused."""
    from structlog.testing import capture_logs

    desk = desk_of(ledger)
    await published(desk)

    def audit_rows() -> int:
        con = sqlite3.connect(ledger.path)
        try:
            return int(con.execute("SELECT COUNT(*) FROM audit").fetchone()[0])
        finally:
            con.close()

    before = audit_rows()
    with capture_logs() as logs:
        found = await desk.search(SEAT, "纳税人张三的电子发票")
    assert [f.version.entry_id for f in found] == ["KB-00001"]
    assert audit_rows() == before
    assert "张三" not in repr(logs)
    with pytest.raises(KbNotAllowed):
        await desk.search(Person("x", frozenset()), "电子发票")
