"""The knowledge base (知识库) as rules: what an entry holds, which changes of status are
allowed and for whom, and when a published entry is offered.

Pure: no I/O, no clock (every date is an argument). The `hotline kb` CLI, the REST API,
the seat's page and the line decide with these functions.

- An entry has versions; a change is a new version (a draft), never an edit in place.
  A version goes draft -> reviewed (by an expert who did not write it) -> published (by a
  leader), and the published one is the entry's live version until another version is
  published (the old one is then superseded) or it is withdrawn.
- Scope: the province, or one city bureau (a routing.yaml group of kind remote): a local
  entry. A city bureau's people draft only their own city's entries.
- A published entry is offered (to the line, to the seats' search) from its
  `effective_from` to its `effective_until` day, both included.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Final

from hotline.core.accounts import Person

PROVINCE: Final = "province"
STATUSES: Final[Mapping[str, str]] = {
    "draft": "草稿",
    "reviewed": "已审核",
    "published": "已发布",
    "superseded": "已被新版本取代",
    "withdrawn": "已撤回",
}
ENTRY_ID = re.compile(r"KB-[0-9]{5,9}")
MAX_QUESTION = 200  # characters
MAX_PHRASINGS = 30
MAX_ANSWER = 20_000
# The spoken answer is read by the line in at most 60 s. espeak-ng's Chinese voice at its
# default speed reads about 3 characters a second (measured on tax phrases: 93 characters
# 30.3 s, 220 characters 73.4 s); 170 characters is the limit a draft is held to, and the
# prompt built at publication is measured (`MAX_SPOKEN_SECONDS`).
MAX_SPOKEN_CHARS = 170
MAX_SPOKEN_SECONDS = 60.0
MAX_SOURCE = 100
SOURCE_NUMBER_HINT = "如 国家税务总局公告2024年第1号"


class KbRuleError(ValueError):
    """An entry's text or a change of status that breaks the rules (the message says
    which, in the operator's terms)."""


@dataclass(frozen=True)
class Draft:
    """What a person writes: the text and the facts of one version."""

    question: str
    answer: str
    spoken: str
    topic: str
    scope: str = PROVINCE
    phrasings: tuple[str, ...] = ()
    source_number: str | None = None
    source_date: date | None = None
    effective_from: date | None = None
    effective_until: date | None = None
    note: str | None = None  # why this version (an edit's reason)


@dataclass(frozen=True)
class Version:
    """One stored version of an entry."""

    entry_id: str
    version: int
    status: str
    draft: Draft
    written_by: str
    written_at: str
    reviewed_by: str | None = None
    reviewed_at: str | None = None
    published_by: str | None = None
    published_at: str | None = None
    withdrawn_by: str | None = None
    withdrawn_at: str | None = None


@dataclass(frozen=True)
class Entry:
    """An entry: its versions (oldest first), the newest, and the live one."""

    id: str
    versions: tuple[Version, ...] = field(default_factory=tuple)
    live: int | None = None  # the published version's number

    @property
    def latest(self) -> Version:
        return self.versions[-1]

    @property
    def live_version(self) -> Version | None:
        for v in self.versions:
            if v.version == self.live:
                return v
        return None

    def version(self, number: int) -> Version:
        for v in self.versions:
            if v.version == number:
                return v
        raise KbRuleError(f"{self.id} has no version {number} (versions 1 to "
                          f"{self.latest.version})")


def entry_id(text: str) -> str:
    """An entry's id as typed (kb-00012 is KB-00012)."""
    value = text.strip().upper()
    if not ENTRY_ID.fullmatch(value):
        raise KbRuleError(f"{text!r} is not an entry id (KB- and 5 to 9 digits, e.g. "
                          "KB-00012)")
    return value


def format_id(number: int) -> str:
    return f"KB-{number:05d}"


def _clean(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n")).strip()


def draft_problems(draft: Draft, *, topics: Collection[str],
                   scopes: Collection[str]) -> list[str]:
    """Why `draft` cannot be stored (none: it can). `topics` are the dialplans' topics,
    `scopes` the city bureaus (routing.yaml's remote groups); the province is always a
    scope."""
    problems = []
    texts = [("question", draft.question), ("answer", draft.answer),
             ("spoken", draft.spoken), *(("phrasing", p) for p in draft.phrasings)]
    for name, text in texts:
        if "\x00" in text or any(ord(c) < 32 and c not in "\n\t" for c in text):
            problems.append(f"{name}: control characters are not allowed")
    if not draft.question.strip():
        problems.append("question: empty (the question as a caller asks it)")
    elif len(draft.question) > MAX_QUESTION:
        problems.append(f"question: {len(draft.question)} characters, at most {MAX_QUESTION}")
    if len(draft.phrasings) > MAX_PHRASINGS:
        problems.append(f"phrasings: {len(draft.phrasings)}, at most {MAX_PHRASINGS}")
    for p in draft.phrasings:
        if not p.strip():
            problems.append("phrasings: an empty phrasing")
        elif len(p) > MAX_QUESTION:
            problems.append(f"phrasings: {p[:20]!r}... has {len(p)} characters, at most "
                            f"{MAX_QUESTION}")
    if not draft.answer.strip():
        problems.append("answer: empty (the answer for seats)")
    elif len(draft.answer) > MAX_ANSWER:
        problems.append(f"answer: {len(draft.answer)} characters, at most {MAX_ANSWER}")
    if not draft.spoken.strip():
        problems.append("spoken: empty (the short answer the line reads)")
    elif len(draft.spoken) > MAX_SPOKEN_CHARS:
        problems.append(f"spoken: {len(draft.spoken)} characters, at most "
                        f"{MAX_SPOKEN_CHARS} (about {MAX_SPOKEN_SECONDS:g} s when read)")
    if draft.topic not in topics:
        problems.append(f"topic: {draft.topic!r} is not a dialplan topic (topics: "
                        f"{', '.join(sorted(topics))})")
    if draft.scope != PROVINCE and draft.scope not in scopes:
        problems.append(f"scope: {draft.scope!r} is neither {PROVINCE} nor a city bureau "
                        f"(bureaus: {', '.join(sorted(scopes)) or 'none'})")
    if draft.source_number is not None and len(draft.source_number) > MAX_SOURCE:
        problems.append(f"source: at most {MAX_SOURCE} characters ({SOURCE_NUMBER_HINT})")
    if (draft.effective_from and draft.effective_until
            and draft.effective_until < draft.effective_from):
        problems.append(f"effective_until {draft.effective_until} is before effective_from "
                        f"{draft.effective_from}")
    return problems


def checked(draft: Draft, *, topics: Collection[str], scopes: Collection[str]) -> Draft:
    """`draft` with its texts tidied (line ends, trailing spaces, duplicate phrasings
    dropped), or KbRuleError naming every problem."""
    phrasings: list[str] = []
    question = _clean(draft.question)
    for p in draft.phrasings:
        text = _clean(p)
        if text != question and text not in phrasings:
            phrasings.append(text)
    tidy = replace(draft, question=question, answer=_clean(draft.answer),
                   spoken=_clean(draft.spoken), phrasings=tuple(phrasings),
                   source_number=(draft.source_number or "").strip() or None,
                   note=(draft.note or "").strip() or None)
    problems = draft_problems(tidy, topics=topics, scopes=scopes)
    if problems:
        raise KbRuleError("; ".join(problems))
    return tidy


# -- who may do what -----------------------------------------------------------------

def may_draft(person: Person, scope: str) -> bool:
    """Seats, experts and leaders draft; a city bureau's people (not leaders) only
    their own city's entries."""
    if not person.may("kb.draft"):
        return False
    if person.remote and "leader" not in person.roles:
        return scope == person.bureau
    return True


def review_problem(person: Person, version: Version) -> str | None:
    """Why `person` may not review `version` (None: they may)."""
    if not person.may("kb.review"):
        return "only an expert reviews an entry"
    if version.status != "draft":
        return (f"{version.entry_id} version {version.version} is "
                f"{STATUSES[version.status]}, not a draft")
    if version.written_by == person.username:
        return "an entry is reviewed by another expert than the one who wrote it"
    return None


def publish_problem(person: Person, version: Version) -> str | None:
    if not person.may("kb.publish"):
        return "only a team leader publishes an entry"
    if version.status != "reviewed":
        return (f"{version.entry_id} version {version.version} is "
                f"{STATUSES[version.status]}: only a reviewed version is published")
    return None


def withdraw_problem(person: Person, entry: Entry) -> str | None:
    if not person.may("kb.publish"):
        return "only a team leader withdraws an entry"
    if entry.live is None:
        return f"{entry.id} has no published version to withdraw"
    return None


def edit_problem(person: Person, entry: Entry, draft: Draft) -> str | None:
    """Why `person` may not write a new version of `entry` with `draft`."""
    if not may_draft(person, draft.scope) or not may_draft(person, entry.latest.draft.scope):
        return "a city bureau's people write only their own city's entries"
    return None


# -- what is offered -----------------------------------------------------------------

def in_force(draft: Draft, day: date) -> bool:
    """Is the policy of `draft` in force on `day` (its effective dates, both included)?"""
    if draft.effective_from is not None and day < draft.effective_from:
        return False
    return draft.effective_until is None or day <= draft.effective_until


def offered(entry: Entry, day: date, city: str | None = None) -> Version | None:
    """The version of `entry` the line and the seats' search offer on `day` to a caller
    or seat of `city` (a city bureau, None: the centre), or None: none is published, it
    is out of force, or it is another city's local entry."""
    live = entry.live_version
    if live is None or live.status != "published" or not in_force(live.draft, day):
        return None
    if live.draft.scope != PROVINCE and live.draft.scope != city:
        return None
    return live


def expiring(entries: Collection[Entry], start: date, end: date) -> list[Version]:
    """The live versions whose policy stops being in force between `start` and `end`
    (both included), soonest first: the list of entries to renew or withdraw."""
    found = [e.live_version for e in entries]
    out = [v for v in found if v is not None and v.draft.effective_until is not None
           and start <= v.draft.effective_until <= end]
    return sorted(out, key=lambda v: (v.draft.effective_until or end, v.entry_id))
