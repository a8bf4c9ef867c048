"""The knowledge base's desk: what `hotline kb ...`, the REST API and the 知识库 page do,
for a person, by the rules of hotline.core.kb.

Who may do what is decided here with the core's pure rules (may_draft, review_problem,
publish_problem, withdraw_problem, edit_problem); the ledger (hotline.ledger.kb) stores
what they allowed, each change audited there. Publishing indexes the version's words
(words.indexed) and first awaits `on_publish` (the line's spoken prompt is built and
measured there): if it raises, the publication is refused with its error and nothing
changes. A search is a read: not audited, and the typed text is never logged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from hotline.common.clock import CHINA
from hotline.common.errors import HotlineError
from hotline.core.accounts import Person
from hotline.core.ivr.dialplan import Dialplan, SetCall
from hotline.core.kb import (
    PROVINCE,
    STATUSES,
    Draft,
    Entry,
    KbRuleError,
    Version,
    checked,
    edit_problem,
    entry_id,
    expiring,
    may_draft,
    offered,
    publish_problem,
    review_problem,
    withdraw_problem,
)
from hotline.features.kb import words
from hotline.features.kb.io import Row
from hotline.ledger.errors import KbEntryUnknown, KbInvalid, KbNotAllowed
from hotline.ledger.kb import KnowledgeBase

# The dialplans' topics as staff read them (12366.yaml's labels); a topic of a dialplan
# without a label shows its own name.
TOPIC_LABELS: Mapping[str, str] = {
    "individual_income_tax": "个人所得税",
    "social_insurance": "社会保险费",
    "invoice": "发票",
    "property_and_land": "财产和行为税",
    "other": "其他",
}
MAX_REASON = 500
MAX_SEARCH = 200  # characters of a query
SEARCH_LIMIT = 10

OnPublish = Callable[[Version], Awaitable[None]]


def topics_of(plans: Iterable[Dialplan]) -> dict[str, str]:
    """The topics the dialplans set (`set: {topic: ...}`), each with its label: the
    option's label in its menu, else TOPIC_LABELS', else its name."""
    found: dict[str, str] = {}
    for plan in plans:
        for menu in plan.menus.values():
            for steps in menu.options.values():
                for step in steps:
                    if isinstance(step, SetCall) and step.topic and step.topic not in found:
                        found[step.topic] = (plan.topic_label(step.topic)
                                             or TOPIC_LABELS.get(step.topic, step.topic))
    return found


def city_of(person: Person) -> str | None:
    """The city bureau whose local entries come first for `person` (None: the centre)."""
    return person.bureau if person.remote else None


def quarter_end(day: date, ahead: int = 1) -> date:
    """The last day of the quarter `ahead` quarters after the one of `day`."""
    index = (day.year * 4 + (day.month - 1) // 3) + ahead + 1  # the quarter after it
    first = date(index // 4, index % 4 * 3 + 1, 1)
    return first - timedelta(days=1)


@dataclass(frozen=True)
class Found:
    """A search's answer: the version offered, and its bm25 rank (lower is better)."""

    version: Version
    rank: float


class KbDesk:
    """The knowledge base for people. `topics()`: the dialplans' topics (topic -> label);
    `scopes()`: the city bureaus (routing.yaml's remote groups); `clock()`: now (UTC)."""

    def __init__(self, store: KnowledgeBase,
                 topics: Callable[[], Mapping[str, str]] | Mapping[str, str],
                 scopes: Callable[[], Collection[str]] | Collection[str],
                 clock: Callable[[], datetime], on_publish: OnPublish | None = None) -> None:
        self.store = store
        self._topics = topics
        self._scopes = scopes
        self.clock = clock
        self.on_publish = on_publish

    def topics(self) -> Mapping[str, str]:
        return self._topics() if callable(self._topics) else self._topics

    def scopes(self) -> set[str]:
        return set(self._scopes() if callable(self._scopes) else self._scopes)

    def today(self) -> date:
        return self.clock().astimezone(CHINA).date()

    # -- rules ---------------------------------------------------------------------------

    def checked(self, draft: Draft) -> Draft:
        """`draft` tidied, or KbInvalid naming every problem."""
        try:
            return checked(draft, topics=self.topics(), scopes=self.scopes())
        except KbRuleError as exc:
            raise KbInvalid(str(exc)) from None

    @staticmethod
    def _need(person: Person, permission: str, what: str) -> None:
        if not person.may(permission):
            raise KbNotAllowed(f"{person.username} may not {what}")

    @staticmethod
    def _refuse(problem: str | None) -> None:
        if problem is not None:
            raise KbNotAllowed(problem)

    def draft_problem(self, person: Person, draft: Draft) -> str | None:
        if not person.may("kb.draft"):
            return "only seats, experts and team leaders write entries"
        if not may_draft(person, draft.scope):
            return (f"a city bureau's people write only their own city's entries "
                    f"(scope {person.bureau}), not {draft.scope}")
        return None

    # -- changes -------------------------------------------------------------------------

    async def add(self, person: Person, draft: Draft) -> Entry:
        """A new entry, its version 1 a draft written by `person`."""
        tidy = self.checked(draft)
        self._refuse(self.draft_problem(person, tidy))
        return await self.store.add(tidy, actor=person.username, at=self.clock())

    async def edit(self, person: Person, entry: str, draft: Draft,
                   base: int | None) -> Version:
        """A new version (a draft) of `entry`, made from version `base` (KbChanged when
        the entry has a newer one: nobody's edit is lost). The old versions stay."""
        found = await self.store.get(self.entry_id(entry))
        tidy = self.checked(draft)
        self._refuse(self.draft_problem(person, tidy) or edit_problem(person, found, tidy))
        return await self.store.edit(found.id, tidy, base=base, actor=person.username,
                                     at=self.clock())

    async def _version(self, entry: str, version: int | None) -> tuple[Entry, Version]:
        found = await self.store.get(self.entry_id(entry))
        return found, found.latest if version is None else self.version_of(found, version)

    @staticmethod
    def version_of(entry: Entry, version: int) -> Version:
        try:
            return entry.version(version)
        except KbRuleError as exc:
            raise KbEntryUnknown(str(exc), entry_id=entry.id) from None

    @staticmethod
    def entry_id(text: str) -> str:
        try:
            return entry_id(text)
        except KbRuleError as exc:
            raise KbInvalid(str(exc)) from None

    async def review(self, person: Person, entry: str, version: int | None = None
                     ) -> Version:
        """`version` (default: the newest) reviewed by `person`, an expert who did not
        write it."""
        found, v = await self._version(entry, version)
        self._refuse(review_problem(person, v))
        await self.store.review(found.id, v.version, actor=person.username, at=self.clock())
        return (await self.store.get(found.id)).version(v.version)

    async def publish(self, person: Person, entry: str, version: int | None = None
                      ) -> Version:
        """The reviewed `version` (default: the newest) published by a leader: `on_publish`
        first (its error refuses it), then the ledger (indexed, the former live version
        superseded)."""
        found, v = await self._version(entry, version)
        self._refuse(publish_problem(person, v))
        if self.on_publish is not None:
            try:
                await self.on_publish(v)
            except HotlineError:
                raise
            except Exception as exc:  # the prompt's tools: refused, said in one line
                raise KbInvalid(f"{found.id} version {v.version} not published: its spoken "
                                f"prompt could not be made ({type(exc).__name__}: {exc})"
                                ) from exc
        indexed = await asyncio.to_thread(words.indexed, v.draft)
        await self.store.publish(found.id, v.version, indexed, actor=person.username,
                                 at=self.clock())
        return (await self.store.get(found.id)).version(v.version)

    async def withdraw(self, person: Person, entry: str, reason: str) -> Version:
        """The live version withdrawn (no longer offered), with the reason."""
        text = reason.strip()
        if not text:
            raise KbInvalid("reason: say why the entry is withdrawn (撤回原因)")
        if len(text) > MAX_REASON or any(ord(c) < 32 and c not in "\n\t" for c in text):
            raise KbInvalid(f"reason: at most {MAX_REASON} characters, no control characters")
        found = await self.store.get(self.entry_id(entry))
        self._refuse(withdraw_problem(person, found))
        number = await self.store.withdraw(found.id, reason=text, actor=person.username,
                                           at=self.clock())
        return (await self.store.get(found.id)).version(number)

    # -- reading -------------------------------------------------------------------------

    async def show(self, person: Person, entry: str) -> Entry:
        """An entry with every version (who wrote, reviewed, published, when)."""
        self._need(person, "kb.read", "read the knowledge base")
        return await self.store.get(self.entry_id(entry))

    async def listing(self, person: Person, *, status: str | None = None,
                      topic: str | None = None, scope: str | None = None,
                      expiring_soon: bool = False) -> list[Entry]:
        """Entries whose newest version has `status` / `topic` / `scope`; with
        `expiring_soon`, those whose live version stops being in force from today to
        the end of next quarter, soonest first."""
        self._need(person, "kb.read", "read the knowledge base")
        if status is not None and status not in STATUSES:
            raise KbInvalid(f"status {status!r}: one of {', '.join(STATUSES)}")
        if topic is not None and topic not in self.topics():
            raise KbInvalid(f"topic {topic!r} is not a dialplan topic (topics: "
                            f"{', '.join(sorted(self.topics()))})")
        if scope is not None and scope != PROVINCE and scope not in self.scopes():
            raise KbInvalid(f"scope {scope!r} is neither {PROVINCE} nor a city bureau")
        entries = await self.store.entries(status=status, topic=topic, scope=scope)
        if not expiring_soon:
            return entries
        today = self.today()
        soon = expiring(entries, today, quarter_end(today))
        by_id = {e.id: e for e in entries}
        return [by_id[v.entry_id] for v in soon]

    async def search(self, person: Person, text: str, *, city: str | None = None,
                     limit: int = SEARCH_LIMIT) -> list[Found]:
        """The entries offered today for what `person` typed, best first, the local
        entries of `city` (default: the person's city bureau) first. Not audited; the
        text is not logged."""
        self._need(person, "kb.read", "search the knowledge base")
        if len(text) > MAX_SEARCH:
            raise KbInvalid(f"a search is at most {MAX_SEARCH} characters, not {len(text)}")
        where = city if city is not None else city_of(person)
        query = await asyncio.to_thread(words.match, text)
        if not query:
            return []
        hits = await self.store.search(query, city=where, limit=limit * 2)
        today = self.today()
        out = []
        for hit in hits:
            entry = await self.store.get(hit.entry_id)
            v = offered(entry, today, where)
            if v is not None:
                out.append(Found(v, hit.rank))
            if len(out) >= limit:
                break
        return out

    async def import_rows(self, person: Person, rows: list[Row], source: str) -> list[str]:
        """The rows of an import file (hotline.features.kb.io) stored as drafts in one
        transaction, or KbInvalid naming every bad row by its line (nothing stored);
        the ids stored (new entries first, then those given a new version)."""
        problems: list[str] = []
        tidy_new: list[Draft] = []
        tidy_versions: list[tuple[str, Draft]] = []
        known = {e.id: e for e in await self.store.entries()}
        for line, eid, draft in ((r.line, r.entry_id, r.draft) for r in rows):
            try:
                tidy = checked(draft, topics=self.topics(), scopes=self.scopes())
            except KbRuleError as exc:
                problems.append(f"{source}:{line}: {exc}")
                continue
            problem = self.draft_problem(person, tidy)
            if eid is not None:
                entry = known.get(eid)
                if entry is None:
                    problems.append(f"{source}:{line}: id: no entry {eid} (leave id empty "
                                    "for a new entry)")
                    continue
                problem = problem or edit_problem(person, entry, tidy)
                tidy_versions.append((eid, tidy))
            else:
                tidy_new.append(tidy)
            if problem:
                problems.append(f"{source}:{line}: {problem}")
        if problems:
            raise KbInvalid(f"nothing was imported: {len(problems)} bad row(s)\n"
                            + "\n".join(problems), problems=problems)
        if not rows:
            raise KbInvalid(f"{source}: no entries to import")
        return await self.store.add_many(tidy_new, actor=person.username, at=self.clock(),
                                         source=source, versions=tidy_versions)


# -- what the CLI and the API show ------------------------------------------------------


def version_view(v: Version) -> dict[str, Any]:
    d = v.draft
    return {
        "id": v.entry_id, "version": v.version, "status": v.status,
        "status_label": STATUSES.get(v.status, v.status),
        "question": d.question, "phrasings": list(d.phrasings), "answer": d.answer,
        "spoken": d.spoken, "topic": d.topic, "topic_label": TOPIC_LABELS.get(d.topic, d.topic),
        "scope": d.scope, "source_number": d.source_number,
        "source_date": _iso(d.source_date), "effective_from": _iso(d.effective_from),
        "effective_until": _iso(d.effective_until), "note": d.note,
        "written_by": v.written_by, "written_at": v.written_at,
        "reviewed_by": v.reviewed_by, "reviewed_at": v.reviewed_at,
        "published_by": v.published_by, "published_at": v.published_at,
        "withdrawn_by": v.withdrawn_by, "withdrawn_at": v.withdrawn_at,
    }


def entry_view(entry: Entry, *, versions: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"id": entry.id, "live": entry.live,
                           "latest": version_view(entry.latest)}
    if versions:
        out["versions"] = [version_view(v) for v in entry.versions]
    return out


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


