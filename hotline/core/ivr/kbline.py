"""The knowledge base as the line offers it: a snapshot of the published entries by topic,
with the names of their prompts, and the menus built from it.

Pure: no I/O. The kb feature (hotline.features.kb.line) builds a `KbSnapshot` from the
ledger's live entries and swaps it whole when the knowledge base changes; a call takes
the snapshot of its start and keeps it to its end, like the dialplan's.

Prompt names of the knowledge base start with `kb:`: the runner plays them from the
knowledge base's own prompt folder, not the dialplan's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from hotline.core.kb import PROVINCE

KB_PROMPT = "kb:"  # prompts of the knowledge base (its own folder)
KB_MENU = "kb:"  # the menus generated from it: kb:TOPIC (no dialplan menu has a colon)
MAX_KEYS = 9  # keys 1..9 choose an entry of a generated menu


@dataclass(frozen=True)
class KbItem:
    """One offered entry: its live version, the texts the line reads and their prompts."""

    entry_id: str
    version: int
    topic: str
    question: str
    spoken: str
    scope: str = PROVINCE
    effective_from: date | None = None
    effective_until: date | None = None

    @property
    def question_prompt(self) -> str:
        return f"{KB_PROMPT}{question_file(self.entry_id, self.version)}"

    @property
    def answer_prompt(self) -> str:
        return f"{KB_PROMPT}{spoken_file(self.entry_id, self.version)}"

    def offered(self, day: date | None, city: str | None) -> bool:
        """In force on `day` (None: not checked) and for a caller of `city`."""
        if day is not None:
            if self.effective_from is not None and day < self.effective_from:
                return False
            if self.effective_until is not None and day > self.effective_until:
                return False
        return self.scope == PROVINCE or self.scope == city


def spoken_file(entry_id: str, version: int) -> str:
    """The file name (without .wav) of a version's spoken answer."""
    return f"{entry_id}-v{version}-spoken"


def question_file(entry_id: str, version: int) -> str:
    """The file name (without .wav) of a version's question, read in a generated menu."""
    return f"{entry_id}-v{version}-question"


def key_file(key: int) -> str:
    """The file name of "press N" (请按N) after a question in a generated menu."""
    return f"press-{key}"


def key_prompt(key: int) -> str:
    return f"{KB_PROMPT}{key_file(key)}"


KEY_WORDS = {1: "一", 2: "二", 3: "三", 4: "四", 5: "五", 6: "六", 7: "七", 8: "八", 9: "九"}


def key_text(key: int) -> str:
    return f"请按{KEY_WORDS[key]}。"


@dataclass(frozen=True)
class KbSnapshot:
    """The entries the line may offer, by topic in the order of their menus (a city's
    local entries first, then by id), and by id. `stamp`: the ledger's state it was
    built from."""

    by_topic: Mapping[str, tuple[KbItem, ...]] = field(default_factory=dict)
    stamp: str = ""
    by_id: Mapping[str, KbItem] = field(default_factory=dict)

    @classmethod
    def of(cls, items: list[KbItem], stamp: str = "") -> KbSnapshot:
        topics: dict[str, list[KbItem]] = {}
        for item in sorted(items, key=lambda i: i.entry_id):
            topics.setdefault(item.topic, []).append(item)
        return cls({t: tuple(v) for t, v in topics.items()}, stamp,
                   {i.entry_id: i for i in items})

    def offered(self, topic: str, day: date | None, city: str | None,
                limit: int = MAX_KEYS) -> tuple[KbItem, ...]:
        """The entries of `topic` offered on `day` to a caller of `city`: that city's
        local ones first, then the province's; at most `limit`."""
        found = [i for i in self.by_topic.get(topic, ()) if i.offered(day, city)]
        found.sort(key=lambda i: (i.scope == PROVINCE, i.entry_id))
        return tuple(found[:limit])

    def entry(self, entry_id: str, day: date | None, city: str | None) -> KbItem | None:
        """The entry `entry_id` if it is offered on `day` to a caller of `city`."""
        item = self.by_id.get(entry_id)
        return item if item is not None and item.offered(day, city) else None

    def text_of(self, prompt: str) -> str | None:
        """What a `kb:` prompt says (for `hotline simulate`)."""
        name = prompt.removeprefix(KB_PROMPT)
        for key in KEY_WORDS:
            if name == key_file(key):
                return key_text(key)
        item = self.by_id.get(name.split("-v", 1)[0])
        if item is not None and name == question_file(item.entry_id, item.version):
            return item.question
        if item is not None and name == spoken_file(item.entry_id, item.version):
            return item.spoken
        return None


EMPTY = KbSnapshot()


def is_kb_menu(name: str) -> bool:
    return name.startswith(KB_MENU)


def kb_menu_name(topic: str) -> str:
    return f"{KB_MENU}{topic}"
