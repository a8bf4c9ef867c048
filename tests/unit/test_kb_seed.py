"""The shipped knowledge-base seed (config/kb/seed.yaml) and the search benchmark's labelled
questions (bench/kb_questions.yaml) load, and every seed entry is one the rules accept."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bench.kb_search import (
    SEED_FILE,
    SeedError,
    filler,
    load_questions,
    load_seed,
    scopes,
    topics,
)
from hotline.core.kb import MAX_SPOKEN_CHARS, PROVINCE, checked
from hotline.features.kb.io import read_yaml


def test_every_seed_entry_passes_the_rules() -> None:
    """Each of the seed's entries passes hotline.core.kb.checked() against the dialplans'
    topics and routing.yaml's city bureaus: at least 150 province entries over all five
    topics, local entries for two city bureaus, every spoken answer within 220 characters,
    no question twice."""
    drafts = load_seed()
    known_topics, known_scopes = topics(), scopes()
    for draft in drafts:
        assert checked(draft, topics=known_topics, scopes=known_scopes) == draft
        assert len(draft.spoken) <= MAX_SPOKEN_CHARS
    province = [d for d in drafts if d.scope == PROVINCE]
    assert len(province) >= 150
    assert set(Counter(d.topic for d in province)) == {
        "individual_income_tax", "social_insurance", "invoice", "property_and_land", "other"}
    assert {d.scope for d in drafts} - {PROVINCE} == {"hefei", "wuhu"} <= known_scopes
    assert len({d.question for d in drafts}) == len(drafts)


def test_a_bad_seed_entry_is_named(tmp_path: Path) -> None:
    """A seed entry the rules refuse (an unknown topic, a spoken answer too long) is
    reported with its position and its question, not skipped."""
    bad = tmp_path / "seed.yaml"
    bad.write_text("entries:\n  - {question: 个税怎么算, answer: 按年, spoken: 按年, "
                   "topic: individual_income_tax}\n"
                   f"  - {{question: 发票怎么开, answer: 登录, spoken: {'长' * 300}, "
                   "topic: nope}\n", encoding="utf-8")
    with pytest.raises(SeedError) as caught:
        load_seed(bad)
    text = str(caught.value)
    assert "entry 2 (发票怎么开)" in text
    assert "topic: 'nope'" in text
    assert "spoken: 300 characters" in text


def test_the_questions_name_seed_entries() -> None:
    """At least 200 labelled questions, each resolved to a seed entry, split into dev and
    held_out (tuned on) and fresh (the measure: one for every seed entry); the city
    questions are asked for a city's own local entry."""
    drafts = load_seed(SEED_FILE)
    questions = load_questions(drafts)
    assert len(questions) >= 200
    splits = Counter(q.split for q in questions)
    assert splits["dev"] >= 100
    assert splits["held_out"] >= 100
    fresh = Counter(q.entry for q in questions if q.split == "fresh")
    assert sorted(fresh) == list(range(len(drafts)))
    assert set(fresh.values()) == {1}
    for q in questions:
        if q.city is not None:
            assert drafts[q.entry].scope == q.city
    assert len({q.text for q in questions}) == len(questions)


def test_the_filler_is_distinct_and_passes_the_rules() -> None:
    """The benchmark's generated filler entries are distinct questions the rules accept."""
    made = filler(2_000)
    assert len({d.question for d in made}) == 2_000
    known_topics, known_scopes = topics(), scopes()
    for draft in made[:200]:
        checked(draft, topics=known_topics, scopes=known_scopes)


def test_the_seed_is_what_hotline_kb_import_reads() -> None:
    """`hotline kb import config/kb/seed.yaml`'s reader (features/kb/io.py) accepts the
    whole seed: the same entries, new ones (no id), as the benchmark loads them."""
    rows = read_yaml(SEED_FILE.read_bytes(), SEED_FILE.name)
    drafts = load_seed()
    assert [r.entry_id for r in rows] == [None] * len(drafts)
    assert [(r.draft.question, r.draft.scope, r.draft.spoken) for r in rows] == [
        (d.question, d.scope, d.spoken) for d in drafts]
