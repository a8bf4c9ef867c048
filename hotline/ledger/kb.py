"""The knowledge base (知识库) in the ledger database: entries, every version of each,
the full-text index of the live versions, and which entry the line answered a call with.

A change is a new version; nothing is updated in place but a version's status (and who
moved it, when). Every change and its audit row are one transaction. The index (FTS5
table kb_fts) holds the live (published) version of each entry as words separated by
spaces: the words come from the caller of `publish`/`reindex` (jieba's segmentation in
the kb feature), so the ledger does no Chinese segmentation itself. The rules of who may
do what are hotline.core.kb's; this module stores what they allowed.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import aiosqlite

from hotline.core.kb import PROVINCE, Draft, Entry, Version, format_id
from hotline.ledger import audit
from hotline.ledger.errors import KbChanged, KbEntryUnknown
from hotline.ledger.store import Ledger, iso

_VERSION_COLUMNS = (
    "entry_id, version, status, question, phrasings, answer, spoken, topic, scope, "
    "source_number, source_date, effective_from, effective_until, written_by, written_at, "
    "note, reviewed_by, reviewed_at, published_by, published_at, withdrawn_by, withdrawn_at")
FEEDBACK = ("solved", "seat")  # "this solved my question", "transfer me to a seat"
# search(): the rows ranked by bm25 before the city's local entries are weighed, the share
# of the live entries above which a word of the query is left out, the local entries'
# advantage, the weight of the share of the query's words an entry's question holds
# (see search).
CANDIDATES = 50
COMMON = 0.5
LOCAL_BOOST = 1.2
COVERAGE = 0.75
LIVE_COUNT_SECONDS = 30.0
_OR_OF_WORDS = re.compile(r'"(?:[^"]|"")+"(?: OR "(?:[^"]|"")+")*')


@dataclass(frozen=True)
class Indexed:
    """The words of one version for the full-text index, each field's words separated by
    spaces (question, the other phrasings, the answer for seats)."""

    question: str
    phrasings: str
    answer: str


@dataclass(frozen=True)
class Hit:
    entry_id: str
    version: int
    scope: str
    rank: float  # bm25: lower is better


def _terms(match: str) -> set[str]:
    """The words of an OR of quoted words (what search weighs coverage by); none for any
    other FTS5 query."""
    if not _OR_OF_WORDS.fullmatch(match):
        return set()
    return {q[1:-1].replace('""', '"') for q in match.split(" OR ")}


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _version(row: Sequence[Any]) -> Version:
    (entry_id, number, status, question, phrasings, answer, spoken, topic, scope,
     source_number, source_date, effective_from, effective_until, written_by, written_at,
     note, reviewed_by, reviewed_at, published_by, published_at, withdrawn_by,
     withdrawn_at) = row
    draft = Draft(question=question, answer=answer, spoken=spoken, topic=topic, scope=scope,
                  phrasings=tuple(json.loads(phrasings)), source_number=source_number,
                  source_date=date.fromisoformat(source_date) if source_date else None,
                  effective_from=date.fromisoformat(effective_from) if effective_from
                  else None,
                  effective_until=date.fromisoformat(effective_until) if effective_until
                  else None, note=note)
    return Version(entry_id=entry_id, version=int(number), status=status, draft=draft,
                   written_by=written_by, written_at=written_at, reviewed_by=reviewed_by,
                   reviewed_at=reviewed_at, published_by=published_by,
                   published_at=published_at, withdrawn_by=withdrawn_by,
                   withdrawn_at=withdrawn_at)


async def _insert_version(db: aiosqlite.Connection, entry_id: str, number: int,
                          draft: Draft, actor: str, at: datetime) -> None:
    await db.execute(
        f"INSERT INTO kb_versions ({_VERSION_COLUMNS}) VALUES "
        "(?, ?, 'draft', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, NULL, "
        "NULL, NULL)",
        (entry_id, number, draft.question, json.dumps(list(draft.phrasings),
                                                      ensure_ascii=False),
         draft.answer, draft.spoken, draft.topic, draft.scope, draft.source_number,
         _day(draft.source_date), _day(draft.effective_from), _day(draft.effective_until),
         actor, iso(at), draft.note))


def _detail(**fields: Any) -> str:
    return json.dumps(fields, ensure_ascii=False)


class KnowledgeBase:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._live: tuple[int, float] | None = None  # (live entries, when counted)
        self._vocab = False  # kb_vocab (the index's words and their entry counts) made

    # -- reading ---------------------------------------------------------------------

    async def _entries(self, db: aiosqlite.Connection, where: str = "",
                       args: Sequence[Any] = ()) -> list[Entry]:
        async with db.execute(f"SELECT id, live FROM kb_entries e {where} ORDER BY id",
                              args) as cur:
            heads = [(str(i), live) for i, live in await cur.fetchall()]
        if not heads:
            return []
        versions: dict[str, list[Version]] = {i: [] for i, _ in heads}
        ids = list(versions)
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            async with db.execute(
                    f"SELECT {_VERSION_COLUMNS} FROM kb_versions WHERE entry_id IN "
                    f"({', '.join('?' for _ in chunk)}) ORDER BY entry_id, version",
                    chunk) as cur:
                for row in await cur.fetchall():
                    versions[row[0]].append(_version(row))
        return [Entry(id=i, versions=tuple(versions[i]), live=live) for i, live in heads]

    async def get(self, entry_id: str) -> Entry:
        found = await self._entries(self.ledger.db, "WHERE id = ?", (entry_id,))
        if not found:
            raise KbEntryUnknown(f"no knowledge-base entry {entry_id}", entry_id=entry_id)
        return found[0]

    async def entries(self, *, status: str | None = None, topic: str | None = None,
                      scope: str | None = None) -> list[Entry]:
        """Every entry, or those whose newest version has `status` / `topic` / `scope`."""
        where, args = [], []
        for column, value in (("status", status), ("topic", topic), ("scope", scope)):
            if value is not None:
                where.append(f"v.{column} = ?")
                args.append(value)
        if not where:
            return await self._entries(self.ledger.db)
        return await self._entries(
            self.ledger.db, "WHERE EXISTS (SELECT 1 FROM kb_versions v WHERE "
            "v.entry_id = e.id AND v.version = e.latest AND " + " AND ".join(where) + ")",
            args)

    async def live(self) -> list[Entry]:
        """The entries with a published version (what the line and the search offer,
        before their dates and scope are applied: hotline.core.kb.offered)."""
        return await self._entries(self.ledger.db, "WHERE live IS NOT NULL")

    async def stamp(self) -> str:
        """A cheap fingerprint of the knowledge base's state: it changes with every
        add, edit, review, publish and withdraw (each moves its entry's updated_at, its
        latest or live version). The line polls it to know when to rebuild."""
        async with self.ledger.db.execute(
                "SELECT COUNT(*), MAX(updated_at), TOTAL(latest), TOTAL(COALESCE(live, 0)) "
                "FROM kb_entries") as cur:
            row = await cur.fetchone()
        return "/".join(str(v) for v in (row or ()))

    # -- changing --------------------------------------------------------------------

    async def add(self, draft: Draft, *, actor: str, at: datetime) -> Entry:
        """A new entry, its version 1 a draft; audited (kb.add)."""
        async with self.ledger.transaction() as db:
            entry_id = await self._add(db, draft, actor=actor, at=at)
        return await self.get(entry_id)

    async def _add(self, db: aiosqlite.Connection, draft: Draft, *, actor: str,
                   at: datetime) -> str:
        async with db.execute("SELECT COALESCE(MAX(CAST(substr(id, 4) AS INTEGER)), 0) "
                              "FROM kb_entries") as cur:
            row = await cur.fetchone()
        entry_id = format_id(int(row[0] if row else 0) + 1)
        await db.execute("INSERT INTO kb_entries (id, latest, live, created_by, created_at, "
                         "updated_at) VALUES (?, 1, NULL, ?, ?, ?)",
                         (entry_id, actor, iso(at), iso(at)))
        await _insert_version(db, entry_id, 1, draft, actor, at)
        await audit.record(db, at=at, actor=actor, action="kb.add", target=f"kb:{entry_id}",
                           detail=_detail(version=1, topic=draft.topic, scope=draft.scope))
        return entry_id

    async def add_many(self, drafts: Iterable[Draft], *, actor: str, at: datetime,
                       source: str,
                       versions: Iterable[tuple[str, Draft]] = ()) -> list[str]:
        """New entries (drafts) all in one transaction: an import is whole or nothing.
        `versions` (entry id, draft) are new versions (drafts) of existing entries in the
        same transaction (an unknown id: KbEntryUnknown, nothing stored). One audit row
        names the import's `source` and count beside each entry's own."""
        ids = []
        async with self.ledger.transaction() as db:
            for draft in drafts:
                ids.append(await self._add(db, draft, actor=actor, at=at))
            for entry_id, draft in versions:
                number = await self._latest(db, entry_id) + 1
                await _insert_version(db, entry_id, number, draft, actor, at)
                await db.execute("UPDATE kb_entries SET latest = ?, updated_at = ? "
                                 "WHERE id = ?", (number, iso(at), entry_id))
                await audit.record(db, at=at, actor=actor, action="kb.edit",
                                   target=f"kb:{entry_id}",
                                   detail=_detail(version=number, note=draft.note))
                ids.append(entry_id)
            await audit.record(db, at=at, actor=actor, action="kb.import", target="kb",
                               detail=_detail(source=source, entries=len(ids)))
        return ids

    async def edit(self, entry_id: str, draft: Draft, *, base: int | None, actor: str,
                   at: datetime) -> Version:
        """A new version (a draft) of `entry_id`. `base` is the version the person
        started from: if the entry has a newer one, KbChanged (nobody's edit is lost).
        The live version stays offered until the new one is published."""
        async with self.ledger.transaction() as db:
            latest = await self._latest(db, entry_id)
            if base is not None and base != latest:
                raise KbChanged(f"{entry_id} has version {latest} now; this change was "
                                f"made from version {base}", entry_id=entry_id)
            number = latest + 1
            await _insert_version(db, entry_id, number, draft, actor, at)
            await db.execute("UPDATE kb_entries SET latest = ?, updated_at = ? WHERE id = ?",
                             (number, iso(at), entry_id))
            await audit.record(db, at=at, actor=actor, action="kb.edit",
                               target=f"kb:{entry_id}",
                               detail=_detail(version=number, note=draft.note))
        return (await self.get(entry_id)).version(number)

    async def _latest(self, db: aiosqlite.Connection, entry_id: str) -> int:
        async with db.execute("SELECT latest FROM kb_entries WHERE id = ?",
                              (entry_id,)) as cur:
            row = await cur.fetchone()
        if row is None:
            raise KbEntryUnknown(f"no knowledge-base entry {entry_id}", entry_id=entry_id)
        return int(row[0])

    async def _move(self, db: aiosqlite.Connection, entry_id: str, version: int,
                    old: str, new: str, who: str, actor: str, at: datetime) -> None:
        cur = await db.execute(
            f"UPDATE kb_versions SET status = ?, {who}_by = ?, {who}_at = ? "
            "WHERE entry_id = ? AND version = ? AND status = ?",
            (new, actor, iso(at), entry_id, version, old))
        if cur.rowcount != 1:
            await self._latest(db, entry_id)  # KbEntryUnknown for an unknown entry
            raise KbChanged(f"{entry_id} version {version} is no longer {old}",
                            entry_id=entry_id)
        await db.execute("UPDATE kb_entries SET updated_at = ? WHERE id = ?",
                         (iso(at), entry_id))

    async def review(self, entry_id: str, version: int, *, actor: str,
                     at: datetime) -> None:
        """The draft `version` reviewed by an expert (audited kb.review)."""
        async with self.ledger.transaction() as db:
            await self._move(db, entry_id, version, "draft", "reviewed", "reviewed",
                             actor, at)
            await audit.record(db, at=at, actor=actor, action="kb.review",
                               target=f"kb:{entry_id}", detail=_detail(version=version))

    async def publish(self, entry_id: str, version: int, words: Indexed, *, actor: str,
                      at: datetime) -> None:
        """The reviewed `version` becomes the live one (the former live version is
        superseded) and its `words` replace the entry's row of the index; audited."""
        async with self.ledger.transaction() as db:
            await self._move(db, entry_id, version, "reviewed", "published", "published",
                             actor, at)
            await db.execute(
                "UPDATE kb_versions SET status = 'superseded' WHERE entry_id = ? AND "
                "version = (SELECT live FROM kb_entries WHERE id = ?) AND version != ?",
                (entry_id, entry_id, version))
            await db.execute("UPDATE kb_entries SET live = ? WHERE id = ?",
                             (version, entry_id))
            await self._index(db, entry_id, words)
            await audit.record(db, at=at, actor=actor, action="kb.publish",
                               target=f"kb:{entry_id}", detail=_detail(version=version))

    async def withdraw(self, entry_id: str, *, reason: str, actor: str,
                       at: datetime) -> int:
        """The live version withdrawn (the line and the search stop offering the entry);
        returns its number. Audited with the reason."""
        async with self.ledger.transaction() as db:
            async with db.execute("SELECT live FROM kb_entries WHERE id = ?",
                                  (entry_id,)) as cur:
                row = await cur.fetchone()
            if row is None:
                raise KbEntryUnknown(f"no knowledge-base entry {entry_id}",
                                     entry_id=entry_id)
            if row[0] is None:
                raise KbChanged(f"{entry_id} has no published version", entry_id=entry_id)
            version = int(row[0])
            await self._move(db, entry_id, version, "published", "withdrawn", "withdrawn",
                             actor, at)
            await db.execute("UPDATE kb_entries SET live = NULL WHERE id = ?", (entry_id,))
            await db.execute("DELETE FROM kb_fts WHERE entry_id = ?", (entry_id,))
            await audit.record(db, at=at, actor=actor, action="kb.withdraw",
                               target=f"kb:{entry_id}",
                               detail=_detail(version=version, reason=reason))
        return version

    # -- the index -------------------------------------------------------------------

    @staticmethod
    async def _index(db: aiosqlite.Connection, entry_id: str, words: Indexed) -> None:
        await db.execute("DELETE FROM kb_fts WHERE entry_id = ?", (entry_id,))
        await db.execute("INSERT INTO kb_fts (entry_id, question, phrasings, answer) "
                         "VALUES (?, ?, ?, ?)",
                         (entry_id, words.question, words.phrasings, words.answer))

    async def reindex(self, words: dict[str, Indexed]) -> None:
        """The whole index rebuilt from `words` (entry id -> words of its live version),
        in one transaction: after the dictionary or the synonyms changed."""
        async with self.ledger.transaction() as db:
            await db.execute("DELETE FROM kb_fts")
            for entry_id, w in words.items():
                await self._index(db, entry_id, w)

    async def search(self, match: str, *, city: str | None = None, limit: int = 10,
                     weights: tuple[float, float, float] = (10.0, 6.0, 1.0),
                     coverage: float | None = None) -> list[Hit]:
        """The live entries matching the FTS5 query `match` (built by the kb feature
        from the segmented words), best first by bm25 with the fields weighted
        question, phrasings, answer. Among the best `CANDIDATES`, the score is weighed
        by how many of the query's words the entry's question and phrasings hold
        (`coverage`, default COVERAGE: score x (1 + coverage x share of the words)), and
        the local entries of `city` have it multiplied by `LOCAL_BOOST` (ahead of the
        province's at equal footing, not ahead of a much better province answer: a
        city's seat asks province questions too); other cities' local entries come last.
        A hit's `rank` is that weighed score (lower is better).

        Why the coverage: bm25 adds up each word's weight, so an entry whose question
        holds one rare word of the query (often, in a short question) can beat the entry
        whose question holds all of its words. The weight was chosen on the benchmark's
        tuning questions (bench/kb_tune.py); the fresh ones measure it.

        Speed (issue 15, bench/kb_search.py): bm25 is computed for every row that
        matches, so a word found in most entries (办理, 申报, 纳税人 ...) costs the most
        and counts for nothing: its inverse document frequency is zero (FTS5's bm25
        floors it) once it is in more than half of the entries. When `match` is an OR of
        quoted words (what words.match builds), the words in more than `COMMON` of the
        live entries are left out (unless nothing else is in any entry). Only the best
        `CANDIDATES` rows by bm25 are then joined to the entries. The ranking is FTS5's
        own `rank` column with the weights given per query (`rank MATCH 'bm25(...)'`):
        the same scores as calling bm25() in the subquery, but FTS5 sorts and limits
        them itself, where the joined subquery's bm25() call cost twice as much (p99
        28.8 -> 12-17 ms at 10,000 entries, the ranking SQL alone)."""
        if not match.strip():
            return []
        wq, wp, wa = weights
        weigh = COVERAGE if coverage is None else coverage
        match = await self._pruned(match)
        terms = _terms(match) if weigh else set()
        async with self.ledger.db.execute(
                "SELECT t.entry_id, e.live, v.scope, t.rank, t.question, t.phrasings FROM ("
                "SELECT entry_id, rank, question, phrasings FROM kb_fts "
                "WHERE kb_fts MATCH ? AND rank MATCH ? ORDER BY rank LIMIT ?) t "
                "JOIN kb_entries e ON e.id = t.entry_id "
                "JOIN kb_versions v ON v.entry_id = e.id AND v.version = e.live",
                (match, f"bm25(0, {wq:g}, {wp:g}, {wa:g})", max(limit, CANDIDATES))) as cur:
            rows = await cur.fetchall()
        ours = city or PROVINCE
        scored: list[tuple[bool, float, Hit]] = []
        for entry_id, live, scope, rank, question, phrasings in rows:
            score = float(rank) * (LOCAL_BOOST if scope == ours else 1.0)
            if terms:
                held = set(str(question).split()) | set(str(phrasings).split())
                score *= 1.0 + weigh * len(terms & held) / len(terms)
            scored.append((scope not in (ours, PROVINCE), score,
                           Hit(str(entry_id), int(live), str(scope), score)))
        scored.sort(key=lambda s: (s[0], s[1]))
        return [hit for _, _, hit in scored[:limit]]

    async def _live_count(self) -> int:
        """The number of live entries, counted again after LIVE_COUNT_SECONDS (a share
        of it is a threshold: a count a little old does no harm; counting costs more
        than the rest of a search's preparation)."""
        now = time.monotonic()
        if self._live is None or now - self._live[1] > LIVE_COUNT_SECONDS:
            async with self.ledger.db.execute(
                    "SELECT count(*) FROM kb_entries WHERE live IS NOT NULL") as cur:
                row = await cur.fetchone()
            self._live = (int(row[0]) if row else 0, now)
        return self._live[0]

    async def _pruned(self, match: str) -> str:
        """`match` without its words found in more than COMMON of the live entries, when
        it is an OR of quoted words and a word that is not common is in an entry; else
        `match` as it is."""
        if not _OR_OF_WORDS.fullmatch(match):
            return match
        quoted = match.split(" OR ")
        if len(quoted) < 2:
            return match
        terms = [q[1:-1].replace('""', '"') for q in quoted]
        async with self.ledger.db.execute(
                f"SELECT term, doc FROM kb_vocab WHERE term IN "
                f"({', '.join('?' for _ in terms)})", terms) as cur:
            docs = {str(t): int(n) for t, n in await cur.fetchall()}
        live = await self._live_count()
        kept = [(q, t) for q, t in zip(quoted, terms, strict=True)
                if docs.get(t, 0) <= live * COMMON]
        if not any(docs.get(t, 0) for _, t in kept):  # all that matches is common
            return match
        return " OR ".join(q for q, _ in kept)

    # -- the line --------------------------------------------------------------------

    async def answered(self, linkedid: str, entry_id: str, version: int,
                       at: datetime) -> int:
        """The line played `entry_id`'s `version` to the call; returns the answer's id
        (its feedback is set by `feedback`)."""
        async with self.ledger.transaction() as db:
            cur = await db.execute("INSERT INTO call_kb (linkedid, entry_id, version, at) "
                                   "VALUES (?, ?, ?, ?)",
                                   (linkedid, entry_id, version, iso(at)))
            return int(cur.lastrowid or 0)

    async def feedback(self, answer_id: int, feedback: str, at: datetime) -> None:
        """What the caller pressed after an answer: solved, or seat (transfer me)."""
        if feedback not in FEEDBACK:
            raise ValueError(f"feedback {feedback!r} is not one of {FEEDBACK}")
        async with self.ledger.transaction() as db:
            await db.execute("UPDATE call_kb SET feedback = ?, feedback_at = ? WHERE id = ?",
                             (feedback, iso(at), answer_id))

    async def answers_of(self, linkedid: str) -> list[dict[str, Any]]:
        async with self.ledger.db.execute(
                "SELECT id, entry_id, version, at, feedback, feedback_at FROM call_kb "
                "WHERE linkedid = ? ORDER BY id", (linkedid,)) as cur:
            rows = await cur.fetchall()
        keys = ("id", "entry_id", "version", "at", "feedback", "feedback_at")
        return [dict(zip(keys, row, strict=True)) for row in rows]
